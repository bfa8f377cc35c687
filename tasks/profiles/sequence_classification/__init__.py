"""Sequence classification of single texts or text pairs (as GLUE MRPC).

Loaded splits hold ``text`` (and ``text_pair`` for pair tasks) and ``label`` (a ClassLabel id).
Scores are accuracy, F1 and macro-F1 with a confusion matrix; predictions are CSV.
"""

from tasks.profiles import TaskProfile

PROFILE = TaskProfile(
    task="sequence-classification",
    short_name="classification",
    pipeline="text-classification",
    head="AutoModelForSequenceClassification",
    metrics=("accuracy", "f1", "macro_f1"),
    count="num_examples",
    per_token=False,
)

"""Named-entity recognition (token classification), as CoNLL-2003: words with IOB2 tags.

Loaded splits hold ``tokens`` (words) and ``ner_tags`` (ClassLabel ids). Training labels every
sub-word (or first sub-words only, ``label_alignment``); evaluation labels first sub-words only
and is scored per word with seqeval, which follows conlleval; predictions are CoNLL text.
"""

from tasks.profiles import TaskProfile

PROFILE = TaskProfile(
    task="ner",
    short_name="ner",
    pipeline="token-classification",
    head="AutoModelForTokenClassification",
    metrics=("precision", "recall", "f1", "accuracy"),
    count="num_sentences",
    per_token=True,
)

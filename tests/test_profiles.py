"""Task profiles: every task answers what every step asks of it."""

from typing import get_args

import pytest

from tasks.config import TaskName
from tasks.profiles import is_pair, profile_of

# What each step module calls on its task's part.
PROTOCOL = {
    "tasks.load": {"source_columns", "normalize"},
    "tasks.data_report": {"EXAMPLES", "texts", "words", "subword_lengths", "label_counts"},
    "tasks.tokenization": {"tokenize"},
    "tasks.training": {"collator", "validation_scores"},
    "tasks.evaluation": {"score", "draw_figures"},
    "tasks.check": {"example", "run", "describe"},
    "tasks.quality_gate": {"chance_score"},
    "tasks.model_card": {
        "NAME", "WHAT", "TAGS", "HOW_SCORED", "UNCASED_COST", "OTHER_TASKS_SETTINGS", "PIPELINE_OPTIONS",
        "purpose", "does", "detail_tables", "usage",
    },
}  # fmt: skip


@pytest.mark.parametrize("task", get_args(TaskName))
def test_every_task_has_a_part_for_every_step(task):
    profile = profile_of(task)
    assert profile.task == task
    for module, names in PROTOCOL.items():
        part = profile.part(module)
        assert part.__name__.endswith(module.rpartition(".")[2])
        assert names <= set(dir(part)), f"{part.__name__} lacks {names - set(dir(part))}"


def test_the_model_class_is_the_tasks_head():
    assert profile_of("ner").model_class().__name__ == "AutoModelForTokenClassification"
    assert profile_of("sequence-classification").model_class().__name__ == "AutoModelForSequenceClassification"


def test_a_pair_task_is_one_with_a_second_text_column():
    assert is_pair(["text", "text_pair", "label"])
    assert not is_pair(["text", "label"])
    assert not is_pair(["tokens", "ner_tags"])


def test_check_examples_follow_the_task_and_pairing():
    ner, classification = (profile_of(task).part("tasks.check") for task in ("ner", "sequence-classification"))
    assert ner.example(False)[1] is None
    assert classification.example(False)[1] is None
    text, text_pair = classification.example(True)
    assert text and text_pair

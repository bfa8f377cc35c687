"""Task profiles: every task answers what every step asks of it."""

import inspect
from typing import get_args

import pytest

from tasks.config.sections import TaskName
from tasks.profiles import PARTS, is_pair, profile_of
from tasks.storage.keys import reached_parts


def protocol_members(protocol: type) -> tuple[dict[str, list[str]], set[str]]:
    """A part Protocol's functions (name -> parameter names, without self) and its attributes."""
    functions = {
        name: list(inspect.signature(function).parameters)[1:]
        for name, function in vars(protocol).items()
        if inspect.isfunction(function) and not name.startswith("_")
    }
    return functions, set(protocol.__annotations__)


@pytest.mark.parametrize("task", get_args(TaskName))
def test_every_task_has_a_part_for_every_step_as_its_protocol_says(task):
    profile = profile_of(task)
    assert profile.task == task
    for name, protocol in PARTS.items():
        part = getattr(profile, name)
        assert part.__name__ == f"tasks.profiles.{task.replace('-', '_')}.{name}"
        functions, attributes = protocol_members(protocol)
        assert functions and attributes | set(functions) <= set(dir(part)), (
            f"{part.__name__} lacks a member of {protocol.__name__}"
        )
        for function, parameters in functions.items():
            assert list(inspect.signature(getattr(part, function)).parameters) == parameters, (
                f"{part.__name__}.{function}"
            )


def test_a_step_reaches_the_parts_its_code_names_and_no_others():
    source = '''"""profile.model_card is said here, not run."""
def f(task, request, self):
    profile = profile_of(task)
    profile.tokenization.tokenize()
    profile_of(task).check.run()
    self.profile.evaluation.score()
    request.training.seed  # a config, not a profile
'''
    assert reached_parts(source) == {"tokenization", "check", "evaluation"}


def test_the_model_class_is_the_tasks_head():
    assert profile_of("ner").model_class().__name__ == "AutoModelForTokenClassification"
    assert profile_of("sequence-classification").model_class().__name__ == "AutoModelForSequenceClassification"


def test_a_pair_task_is_one_with_a_second_text_column():
    assert is_pair(["text", "text_pair", "label"])
    assert not is_pair(["text", "label"])
    assert not is_pair(["tokens", "ner_tags"])


def test_check_examples_follow_the_task_and_pairing():
    ner, classification = (profile_of(task).check for task in ("ner", "sequence-classification"))
    assert ner.example(False)[1] is None
    assert classification.example(False)[1] is None
    text, text_pair = classification.example(True)
    assert text and text_pair

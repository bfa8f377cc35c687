"""A step's key covers the code of ours it runs: an edit re-runs the steps that can run it, and no others."""

from tasks.storage.keys import LIBRARIES, code_closure, imported_modules, library_versions, module_source

STEP_MODULES = {
    "dataset": "tasks.steps.load",
    "data_report": "tasks.steps.data_report",
    "label_issues": "tasks.steps.label_issues",
    "tokenized": "tasks.steps.tokenize",
    "model": "tasks.steps.train",
    "evaluation": "tasks.steps.evaluate",
    "check": "tasks.steps.check",
    "release": "tasks.steps.release",
}


def edited(module: str, old: str, new: str):
    """A source reader that sees ``module`` with one line edited, as a developer's change would leave it."""

    def read(name: str) -> str:
        source = module_source(name)
        if name == module:
            assert old in source
            return source.replace(old, new, 1)
        return source

    return read


def steps_changed_by(read, task: str = "ner") -> list[str]:
    return [
        step
        for step, module in STEP_MODULES.items()
        if code_closure(module, read, task) != code_closure(module, task=task)
    ]


def test_imports_inside_functions_and_submodules_count():
    source = "import os\nfrom tasks.engines import common\n\ndef f():\n    from tasks.engines.trainer import train\n"
    found = imported_modules(source, exists=lambda name: name == "tasks.engines.common")
    assert found == {"tasks.engines", "tasks.engines.common", "tasks.engines.trainer"}


def test_training_runs_both_engines_though_it_imports_them_lazily():
    assert {"tasks.engines.trainer", "tasks.engines.accelerate_loop"} <= set(code_closure("tasks.steps.train"))


def test_an_edit_of_align_labels_reruns_tokenize_and_what_uses_it():
    """Ranking label issues tokenizes its halves itself, so its key covers that code; training does not run it,
    and it and the steps after it re-run because their inputs, the tokenized data and the model, are new
    artifacts (benchmarks/code_edits.py shows the whole run)."""
    read = edited(
        "tasks.profiles.ner.tokenization", "aligned, previous = [], None", "aligned, previous = [], None  # edited"
    )
    assert steps_changed_by(read) == ["label_issues", "tokenized"]


def test_an_edit_of_one_tasks_profile_reruns_none_of_another_tasks_steps():
    read = edited(
        "tasks.profiles.ner.tokenization", "aligned, previous = [], None", "aligned, previous = [], None  # edited"
    )
    assert steps_changed_by(read, task="sequence-classification") == []
    read = edited("tasks.profiles.sequence_classification.model_card", '"""What', '"""Edited: what')
    assert steps_changed_by(read, task="sequence-classification") == ["release"]
    assert steps_changed_by(read, task="ner") == []


def test_an_edit_of_render_card_reruns_only_the_release():
    read = edited("tasks.reports.model_card", '    """The model card:', '    """The edited model card:')
    assert steps_changed_by(read) == ["release"]


def test_library_versions_are_the_ones_installed():
    from importlib.metadata import version

    assert library_versions() == {name: version(name) for name in LIBRARIES}

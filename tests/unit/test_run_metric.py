"""The metric a run is judged by: its names, its value in a split's scores, and what it tells the user."""

import pytest

from tasks.config.command_line import parse_command_line
from tasks.config.finetune import FinetuneConfig
from tasks.engines.accelerate_loop import count_unimproved
from tasks.errors import PipelineError
from tasks.scores.metrics import classification_scores
from tasks.scores.run_metric import (
    describe_early_stopping,
    label_problem,
    majority_label_one,
    metric_title,
    metric_value,
    scored_names,
)

# Four alerts among twelve examples; label ids sort the names, so label 1 is "normal", the majority.
LABELS = ["alert", "normal"]
GOLD = [0] * 4 + [1] * 8
NEVER_ALERTS = [1] * 12


def test_the_default_f1_of_two_classes_rewards_a_model_that_never_finds_the_rare_one():
    scores = classification_scores(GOLD, NEVER_ALERTS, LABELS)
    assert metric_value(scores, "f1") == pytest.approx(0.8)  # normal's F1: precision 8/12, recall 1
    assert metric_value(scores, "f1:alert") == 0.0
    assert metric_value(scores, "macro_f1") == pytest.approx(0.4)
    assert metric_value(scores, "accuracy") == pytest.approx(8 / 12)
    finds_two = classification_scores(GOLD, [0, 0, 1, 1] + [1] * 8, LABELS)
    assert metric_value(finds_two, "f1:alert") == pytest.approx(2 / 3)  # precision 1, recall 1/2


@pytest.mark.parametrize(
    "argv, metric",
    [
        ([], "f1"),
        (["--metric", "strict_f1"], "strict_f1"),
        (["--task", "sequence-classification", "--metric", "macro_f1"], "macro_f1"),
        (["--task", "sequence-classification", "--metric", "accuracy"], "accuracy"),
        (["--task", "sequence-classification", "--metric", "f1:needs review"], "f1:needs review"),
    ],
)
def test_each_task_takes_its_own_metrics(argv, metric):
    assert parse_command_line(argv)[0].metric == metric


@pytest.mark.parametrize(
    "argv, problem",
    [
        (["--metric", "accuracy"], "metric: 'accuracy' is not a metric of ner: use one of f1, strict_f1"),
        (["--metric", "f1:PER"], "metric: 'f1:PER' is not a metric of ner"),
        (
            ["--task", "sequence-classification", "--metric", "strict_f1"],
            "metric: 'strict_f1' is not a metric of sequence-classification: use one of f1, macro_f1, accuracy, f1:<label>",
        ),
        (
            ["--task", "sequence-classification", "--metric", "f1:"],
            "metric: 'f1:' is not a metric of sequence-classification",
        ),
        (["--early-stopping-patience", "2"], "early_stopping_patience: needs more than one validation pass"),
    ],
)
def test_a_metric_of_another_task_or_early_stopping_without_passes_is_refused_in_one_line(argv, problem):
    with pytest.raises(
        PipelineError, match="^invalid configuration \\(command line\\): " + problem.replace("(", "\\(")
    ):
        parse_command_line(argv)


def test_early_stopping_with_several_passes_is_accepted():
    config = FinetuneConfig(epochs=3, early_stopping_patience=2, early_stopping_threshold=0.001)
    assert (config.early_stopping_patience, config.early_stopping_threshold) == (2, 0.001)
    assert FinetuneConfig(evals_per_epoch=4, early_stopping_patience=1).early_stopping_patience == 1


def test_a_label_the_data_lacks_is_named_with_the_labels_it_has():
    assert label_problem("f1:alert", LABELS) is None and label_problem("macro_f1", LABELS) is None
    assert label_problem("f1:fraud", LABELS) == (
        "--metric f1:fraud names the label 'fraud', which the data lacks; its labels are alert, normal"
    )


def test_scored_names_add_the_runs_metric_to_the_headline_ones():
    assert scored_names(("accuracy", "f1", "macro_f1"), "f1") == ("accuracy", "f1", "macro_f1")
    assert scored_names(("accuracy", "f1", "macro_f1"), "f1:alert") == ("accuracy", "f1", "macro_f1", "f1:alert")
    assert [metric_title(name) for name in ("strict_f1", "macro_f1", "f1:alert")] == [
        "Strict F1",
        "Macro-F1",
        "F1 of alert",
    ]


def test_a_majority_label_one_is_named_with_the_metric_that_judges_the_rare_class():
    assert majority_label_one({"alert": 4, "normal": 8}) == (
        "label 1, 'normal', is the majority class of train (8 of 12, 66.7 %): the default --metric f1 is its F1, "
        "which a model that never finds 'alert' can score well on; --metric f1:alert (or macro_f1) judges the rare class"
    )
    assert majority_label_one({"alert": 8, "normal": 4}) is None  # label 1 is the rare class: f1 is its F1
    assert majority_label_one({"a": 6, "b": 6}) is None
    assert majority_label_one({"a": 1, "b": 2, "c": 9}) is None  # three classes: f1 is macro-F1


class Training:
    early_stopping_threshold = 0.01
    early_stopping_patience = 2


def test_early_stopping_counts_passes_that_do_not_beat_the_best_by_the_threshold():
    progress = {"best": {"value": None}, "unimproved": 0, "stopped": False}
    seen = []
    for value in (0.50, 0.505, 0.52, 0.525, 0.529):
        count_unimproved(progress, value, Training)
        if progress["best"]["value"] is None or value > progress["best"]["value"]:
            progress["best"] = {"value": value}  # as the loop keeps the best, by any rise
        seen.append((progress["unimproved"], progress["stopped"]))
    # 0.505 is a rise under the threshold: unimproved, yet the best; 0.52 beats 0.505 by 0.015; 0.525 and 0.529
    # are each under 0.01 above the best so far, and the second of them reaches the patience.
    assert seen == [(0, False), (1, False), (0, False), (1, False), (2, True)]


def test_early_stopping_is_described_in_one_sentence():
    record = {
        "patience": 3,
        "threshold": 0.0,
        "evaluations": 5,
        "stopped_at": {"evaluation": 5, "epoch": 2.5},
        "kept": {"evaluation": 2, "epoch": 1.0},
    }
    assert describe_early_stopping(record) == (
        "Early stopping (patience 3, threshold 0) stopped training at validation pass 5 (epoch 2.5); kept validation "
        "pass 2 (epoch 1)."
    )

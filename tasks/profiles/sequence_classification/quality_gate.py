"""Sequence classification's part of the quality gate."""

from collections.abc import Callable

import datasets

from tasks.scores.metrics import classification_scores
from tasks.scores.run_metric import metric_value


def chance_score(rows: Callable[[], datasets.Dataset], labels: list[str], metric: str) -> float:
    """Giving every example the same label, at its best by ``metric``: for the F1 of two balanced classes 2/3, all
    of them called positive; for accuracy the majority's share. ``rows`` loads the evaluated split."""
    gold = list(rows()["label"])
    return max(
        metric_value(classification_scores(gold, [label] * len(gold), labels), metric) for label in range(len(labels))
    )

"""NER's part of the quality gate."""

from collections.abc import Callable

import datasets


def chance_score(rows: Callable[[], datasets.Dataset], labels: list[str]) -> float:
    """Every word tagged ``O`` finds no entity: F1 0, whatever the rows."""
    return 0.0

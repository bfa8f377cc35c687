"""NER's part of the quality gate."""

from collections.abc import Callable

import datasets


def chance_score(rows: Callable[[], datasets.Dataset], labels: list[str], metric: str) -> float:
    """Every word tagged ``O`` finds no entity: F1 0 by either metric, whatever the rows."""
    return 0.0

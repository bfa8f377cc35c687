"""NER's part of the quality gate."""

import datasets


def chance_score(rows: datasets.Dataset, labels: list[str]) -> float:
    """Every word tagged ``O`` finds no entity: F1 0."""
    return 0.0

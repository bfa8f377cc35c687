"""Sequence classification's part of the data report: an example is its text (and its pair's); its label is its class."""

from collections import Counter

import datasets

from tasks.profiles import PAIR_COLUMN, is_pair
from tasks.scores.run_metric import majority_label_one

EXAMPLES = "examples"


def texts(rows: datasets.Dataset) -> list[tuple[str, ...]]:
    columns = ["text", *([PAIR_COLUMN] if is_pair(rows.column_names) else [])]
    return list(zip(*(rows[column] for column in columns)))


def words(rows: datasets.Dataset) -> list[list[str]]:
    return [[word for text in example for word in text.split()] for example in texts(rows)]


def subword_lengths(rows: datasets.Dataset, tokenizer) -> list[int]:
    """Sub-words per example as tokenize makes them (special tokens included), before truncation."""
    pairs = list(rows[PAIR_COLUMN]) if is_pair(rows.column_names) else None
    encoded = tokenizer(
        list(rows["text"]),
        pairs,
        return_attention_mask=False,
        return_token_type_ids=False,
        verbose=False,  # no warning for each example longer than the model takes: the report counts them
    )
    return [len(ids) for ids in encoded["input_ids"]]


def label_counts(rows: datasets.Dataset) -> dict[str, int]:
    """Examples per class, every class of the label list."""
    found = Counter(rows["label"])
    return {name: found[index] for index, name in enumerate(rows.features["label"].names)}


def notes(train_counts: dict[str, int]) -> list[str]:
    """That label 1 is the majority of two classes, which the default metric (its F1) then rewards."""
    majority = majority_label_one(train_counts)
    return [majority] if majority else []

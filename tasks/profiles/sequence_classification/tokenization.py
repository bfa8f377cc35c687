"""Sequence classification's part of tokenize: each text or text pair, truncated."""

import datasets

from tasks.config.sections import TokenizationConfig
from tasks.profiles import PAIR_COLUMN, Tokenized, is_pair

LONG_INPUTS = "truncated"  # what becomes of a text longer than max_length


def tokenize_texts(dataset, tokenizer, max_length: int) -> datasets.Dataset:
    """Each text, or text pair (with token type ids where the model has
    them), truncated to ``max_length``; padding is left to the collator, per batch."""
    pairs = is_pair(dataset.column_names)

    def encode(batch):
        encoded = tokenizer(
            batch["text"], batch[PAIR_COLUMN] if pairs else None, truncation=True, max_length=max_length
        )
        encoded["labels"] = batch["label"]
        return encoded

    return dataset.map(encode, batched=True, remove_columns=dataset.column_names, keep_in_memory=True)


def longer_than(dataset, tokenizer, max_length: int) -> int:
    """How many texts (or pairs) have more than ``max_length`` tokens untruncated."""
    pairs = list(dataset[PAIR_COLUMN]) if is_pair(dataset.column_names) else None
    lengths = tokenizer(list(dataset["text"]), pairs, verbose=False, return_length=True)["length"]
    return sum(length > max_length for length in lengths)


def tokenize(
    rows: datasets.Dataset, tokenizer, labels: list[str], tokenization: TokenizationConfig, split: str
) -> Tokenized:
    return Tokenized(
        tokenize_texts(rows, tokenizer, tokenization.max_length), longer_than(rows, tokenizer, tokenization.max_length)
    )

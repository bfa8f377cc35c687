"""Sequence classification's part of tokenize: each text or text pair, truncated."""

import datasets

from tasks.config import TokenizationConfig
from tasks.profiles import PAIR_COLUMN, is_pair


def tokenize_texts(dataset, tokenizer, max_length: int) -> datasets.Dataset:
    """Each text, or text pair (with token type ids where the model has
    them), truncated to ``max_length``; padding is left to the collator, per batch."""
    pairs = is_pair(dataset.column_names)

    def encode(batch):
        encoded = tokenizer(batch["text"], batch[PAIR_COLUMN] if pairs else None, truncation=True, max_length=max_length)
        encoded["labels"] = batch["label"]
        return encoded

    return dataset.map(encode, batched=True, remove_columns=dataset.column_names, keep_in_memory=True)


def tokenize(rows: datasets.Dataset, tokenizer, labels: list[str], tokenization: TokenizationConfig, split: str):
    return tokenize_texts(rows, tokenizer, tokenization.max_length)

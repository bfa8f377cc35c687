"""NER's part of tokenize/align: sub-word tokens of each sentence's words, with word labels aligned to them."""

from typing import Literal

import datasets

from tasks.config import TokenizationConfig
from tasks.metrics import IGNORED


def continuation_labels(labels: list[str]) -> list[int]:
    """For each label id, the id a continuation sub-word gets: B-X becomes I-X when the label list has it."""
    index = {label: i for i, label in enumerate(labels)}
    return [index.get(f"I-{label[2:]}", i) if label.startswith("B-") else i for i, label in enumerate(labels)]


def align_labels(
    word_ids: list[int | None],
    word_labels: list[int],
    continuation: list[int],
    mode: Literal["all-subwords", "first-subword"],
) -> list[int]:
    """Token labels from word labels: special tokens get -100, a word's first sub-word
    its label, later sub-words the continuation label or -100 in first-subword mode."""
    aligned, previous = [], None
    for word in word_ids:
        if word is None:
            aligned.append(IGNORED)
        elif word != previous:
            aligned.append(word_labels[word])
        else:
            aligned.append(continuation[word_labels[word]] if mode == "all-subwords" else IGNORED)
        previous = word
    return aligned


def tokenize_words(dataset, tokenizer, max_length: int, continuation: list[int], mode) -> datasets.Dataset:
    """Sub-word tokens of each sentence's words, with aligned labels."""
    def encode(batch):
        encoded = tokenizer(batch["tokens"], is_split_into_words=True, truncation=True, max_length=max_length)
        encoded["labels"] = [
            align_labels(encoded.word_ids(i), tags, continuation, mode) for i, tags in enumerate(batch["ner_tags"])
        ]
        return encoded

    return dataset.map(encode, batched=True, remove_columns=dataset.column_names, keep_in_memory=True)


def tokenize(rows: datasets.Dataset, tokenizer, labels: list[str], tokenization: TokenizationConfig, split: str):
    """Training labels follow ``label_alignment``; evaluation splits label first sub-words only, so
    scores count each word once."""
    mode = tokenization.label_alignment if split == "train" else "first-subword"
    return tokenize_words(rows, tokenizer, tokenization.max_length, continuation_labels(labels), mode)

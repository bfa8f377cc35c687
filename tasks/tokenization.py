"""tokenize/align: sub-word tokenization of the words and their labels, as an Arrow DatasetDict."""

import time
from pathlib import Path
from typing import Literal

import datasets

from tasks.artifacts import building, read_json, step, write_json
from tasks.config import TaskName, TokenizationConfig
from tasks.load import SUMMARY as LOAD_SUMMARY
from tasks.pretrained import ModelSource, load_tokenizer

IGNORED = -100
SUMMARY = "tokenize_summary.json"


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
    """NER: sub-word tokens of each sentence's words, with aligned labels."""
    def encode(batch):
        encoded = tokenizer(batch["tokens"], is_split_into_words=True, truncation=True, max_length=max_length)
        encoded["labels"] = [
            align_labels(encoded.word_ids(i), tags, continuation, mode) for i, tags in enumerate(batch["ner_tags"])
        ]
        return encoded

    return dataset.map(encode, batched=True, remove_columns=dataset.column_names, keep_in_memory=True)


def tokenize_texts(dataset, tokenizer, max_length: int) -> datasets.Dataset:
    """Sequence classification: each text, or text pair (with token type ids where the model has
    them), truncated to ``max_length``; padding is left to the collator, per batch."""
    pairs = "text_pair" in dataset.column_names

    def encode(batch):
        encoded = tokenizer(batch["text"], batch["text_pair"] if pairs else None, truncation=True, max_length=max_length)
        encoded["labels"] = batch["label"]
        return encoded

    return dataset.map(encode, batched=True, remove_columns=dataset.column_names, keep_in_memory=True)


def tokenize_splits(dataset: datasets.DatasetDict, tokenizer, labels: list[str], task: TaskName, tokenization) -> dict:
    if task == "sequence-classification":
        return {split: tokenize_texts(rows, tokenizer, tokenization.max_length) for split, rows in dataset.items()}
    continuation = continuation_labels(labels)
    return {
        split: tokenize_words(
            rows, tokenizer, tokenization.max_length, continuation,
            tokenization.label_alignment if split == "train" else "first-subword",
        )  # fmt: skip
        for split, rows in dataset.items()
    }


@step("tokenized")
def tokenize_dataset(
    dataset_dir: str, model: ModelSource, tokenization: TokenizationConfig, task: TaskName, out_dir: str
) -> str:
    """Tokenize every split. For NER, training labels follow ``label_alignment`` and evaluation
    splits label first sub-words only, so scores count each word once."""
    labels = read_json(Path(dataset_dir) / LOAD_SUMMARY)["labels"]
    tokenizer = load_tokenizer(model)
    started = time.perf_counter()
    tokenized = tokenize_splits(datasets.load_from_disk(dataset_dir), tokenizer, labels, task, tokenization)
    seconds = time.perf_counter() - started
    with building(Path(out_dir)) as partial:
        datasets.DatasetDict(tokenized).save_to_disk(str(partial))
        write_json(partial / SUMMARY, {
            "task": task,
            "labels": labels,
            "tokenizer": type(tokenizer).__name__,
            "max_length": tokenization.max_length,
            "label_alignment": tokenization.label_alignment,
            "num_rows": {split: len(rows) for split, rows in tokenized.items()},
            "sentences_per_second": round(sum(map(len, tokenized.values())) / seconds),
        })  # fmt: skip
    return out_dir


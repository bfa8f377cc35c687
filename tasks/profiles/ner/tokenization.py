"""NER's part of tokenize/align: sub-word tokens of what the model reads for each sentence (`tasks.data.context`:
the sentence, with its neighbours as context when asked), with word labels aligned to them; a sentence longer
than max_length becomes overlapping windows (`tasks.data.windows`)."""

from typing import Literal

import datasets

from tasks.config.sections import TokenizationConfig
from tasks.data.context import document_ids, plan_readings
from tasks.data.windows import SentenceWindows, sentence_windows, window_budget
from tasks.profiles import Tokenized
from tasks.scores.metrics import IGNORED

LONG_INPUTS = "read a sentence at a time, a longer sentence in overlapping windows"  # rows longer than max_length


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
    its label, later sub-words the continuation label or -100 in first-subword mode.
    A word labelled -100 (scored from another window) stays -100 throughout."""
    aligned, previous = [], None
    for word in word_ids:
        label = IGNORED if word is None else word_labels[word]
        if label == IGNORED or word != previous:
            aligned.append(label)
        else:
            aligned.append(continuation[label] if mode == "all-subwords" else IGNORED)
        previous = word
    return aligned


def tokenize_words(
    dataset, tokenizer, tokenization: TokenizationConfig, continuation: list[int], evaluated: bool
) -> Tokenized:
    """Sub-word tokens of each sentence's windows (one window when the sentence fits max_length), with
    aligned labels. Training windows label every word as ``label_alignment`` says; evaluated ones label
    first sub-words only, and only of the words each window is scored for, so a word counts once."""
    mode = "first-subword" if evaluated else tokenization.label_alignment
    budget = window_budget(tokenizer, tokenization.max_length)
    windowed = 0

    def encode(batch):
        nonlocal windowed
        # Untruncated: it measures every sentence, and is the example itself for each one that fits.
        whole = tokenizer(batch["tokens"], is_split_into_words=True, verbose=False)
        plans = {
            row: sentence_windows(whole.word_ids(row), len(batch["tokens"][row]), budget, tokenization.window_stride)
            for row, ids in enumerate(whole["input_ids"])
            if len(ids) > tokenization.max_length
        }
        windowed += sum(len(plan.windows) > 1 for plan in plans.values())
        pieces = [
            (row, index, start, end) for row, plan in plans.items() for index, (start, end) in enumerate(plan.windows)
        ]
        parts = tokenizer(
            [batch["tokens"][row][start:end] for row, _, start, end in pieces],
            is_split_into_words=True,
            truncation=True,
            max_length=tokenization.max_length,
        )
        examples = {row: [(whole, row, tags)] for row, tags in enumerate(batch["ner_tags"]) if row not in plans}
        for part, (row, index, _, _) in enumerate(pieces):
            examples.setdefault(row, []).append(
                (parts, part, _window_labels(batch["ner_tags"][row], plans[row], index, evaluated))
            )
        encoded = {key: [] for key in [*whole, "labels"]}
        for row in range(len(batch["tokens"])):
            for source, position, tags in examples[row]:
                for key in whole:
                    encoded[key].append(source[key][position])
                encoded["labels"].append(align_labels(source.word_ids(position), tags, continuation, mode))
        return encoded

    # Never from datasets' cache: encode must run to count the windowed sentences.
    rows = dataset.map(
        encode, batched=True, remove_columns=dataset.column_names, keep_in_memory=True, load_from_cache_file=False
    )
    return Tokenized(rows, long_inputs=windowed)


def _window_labels(tags: list[int], plan: SentenceWindows, index: int, evaluated: bool) -> list[int]:
    """The word labels of window ``index``; in evaluation, -100 for the words another window is scored for."""
    start, end = plan.windows[index]
    return [
        tag if not evaluated or plan.owners[word] == index else IGNORED
        for word, tag in enumerate(tags[start:end], start)
    ]


def tokenize(
    rows: datasets.Dataset, tokenizer, labels: list[str], tokenization: TokenizationConfig, split: str
) -> Tokenized:
    """Each sentence's reading, its context words unlabelled. Training labels follow ``label_alignment``;
    evaluation splits label first sub-words only, so scores count each word once."""
    # Lists: a dataset's column reads from Arrow at each index.
    plan = plan_readings(tokenizer, list(rows["tokens"]), document_ids(rows), tokenization)
    tags = list(rows["ner_tags"])
    read = datasets.Dataset.from_dict(
        {
            "tokens": [reading.words for reading in plan.readings],
            "ner_tags": [reading.labels(tags[reading.row], IGNORED) for reading in plan.readings],
        }
    )
    continuation = continuation_labels(labels)
    return Tokenized(tokenize_words(read, tokenizer, tokenization, continuation, split != "train").rows, plan.long_rows)

"""load: a dataset from any source, validated and encoded for the task, as an Arrow DatasetDict.

Whatever the source, the artifact has splits ``train``, ``validation`` and, when the
source has one, ``test``, and fixed columns: for NER ``tokens`` (words) and ``ner_tags``
(a sequence of ClassLabel ids); for sequence classification ``text``, ``text_pair`` for
pair tasks, and ``label`` (a ClassLabel id). ``load_summary.json`` beside it records the
task, label list, row counts, per-split content fingerprints and where the data came from; for
span-annotated files, their shape and the rows left out, by kind.
"""

import hashlib
import json
import random
from pathlib import Path

import datasets

from tasks.config.sections import DataConfig, TaskName
from tasks.console import run_logger
from tasks.data.context import DOCUMENT
from tasks.data.local_files import annotation_notes, left_out_lines
from tasks.data.sources import DatasetSource, read_source
from tasks.errors import PipelineError, not_a_user_error
from tasks.profiles import profile_of
from tasks.storage.artifacts import building
from tasks.storage.catalog import LOAD_SUMMARY
from tasks.storage.files import write_json
from tasks.storage.step import step

VALIDATION_FRACTION = 0.1


def _check_columns(split: str, dataset: datasets.Dataset, columns: list[str]) -> None:
    for column in columns:
        if column not in dataset.column_names:
            raise PipelineError(
                f"column '{column}' not found in split '{split}'; columns found: {', '.join(dataset.column_names)}"
            )
    if len(dataset) == 0:
        raise PipelineError(f"split '{split}' is empty")


def normalize(
    raw: datasets.DatasetDict, source: DatasetSource, data: DataConfig, task: TaskName
) -> tuple[datasets.DatasetDict, list[str], dict]:
    """Encode the splits for ``task`` against one label list (row numbers in errors are the
    source's), with what the summary states beyond the labels; then carve a seeded validation split out of train when the source has none."""
    if "train" not in raw:
        raise PipelineError(f"no 'train' split in {source.location}; splits found: {', '.join(raw)}")
    splits = datasets.DatasetDict({split: raw[split] for split in ("train", "validation", "test") if split in raw})
    part = profile_of(task).load
    columns = part.source_columns(splits["train"].column_names, data)
    for split, rows in splits.items():
        _check_columns(split, rows, columns)
    normalized = part.normalize(splits, source, data, columns)
    encoded = normalized.splits
    if "validation" not in encoded:
        carved = encoded["train"].train_test_split(test_size=VALIDATION_FRACTION, seed=data.seed)
        encoded["train"], encoded["validation"] = carved["train"], carved["test"]
    return datasets.DatasetDict(encoded), normalized.labels, normalized.facts


def training_slice(rows: datasets.Dataset, limit: int, seed: int) -> datasets.Dataset:
    """A seeded random slice of ``limit`` rows; of whole documents in their order when the rows mark documents
    (documents drawn until they hold ``limit`` rows or more), so that each sentence keeps its context."""
    if DOCUMENT not in rows.column_names:
        return rows.shuffle(seed=seed).select(range(limit))
    members: dict[int, list[int]] = {}
    for row, document in enumerate(rows[DOCUMENT]):
        members.setdefault(document, []).append(row)
    drawn, count = [], 0
    for document in random.Random(seed).sample(sorted(members), len(members)):
        if count >= limit:
            break
        drawn += members[document]
        count += len(members[document])
    return rows.select(sorted(drawn))


def select_samples(dataset: datasets.DatasetDict, data: DataConfig) -> datasets.DatasetDict:
    """A seeded random training slice and the first N evaluation rows, when limits are set."""
    selected = {}
    for split, rows in dataset.items():
        limit = data.max_train_samples if split == "train" else data.max_eval_samples
        if limit is not None and limit < len(rows):
            rows = training_slice(rows, limit, data.seed) if split == "train" else rows.select(range(limit))
        selected[split] = rows.flatten_indices()
    return datasets.DatasetDict(selected)


def content_fingerprint(dataset: datasets.Dataset) -> str:
    payload = json.dumps(dataset.to_dict(), sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


@step(retries=2, retry_delay_seconds=10, retry_condition_fn=not_a_user_error)
def load(source: DatasetSource, data: DataConfig, task: TaskName, out_dir: str) -> str:
    """Read, validate and encode the dataset for ``task``; write it with ``save_to_disk`` and its summary."""
    raw = read_source(source, data)
    for line in left_out_lines(raw.annotations):
        run_logger().warning(line)
    for line in annotation_notes(raw.annotations):
        run_logger().info(line)
    dataset, labels, facts = normalize(raw.splits, source, data, task)
    dataset = select_samples(dataset, data)
    with building(Path(out_dir)) as partial:
        dataset.save_to_disk(str(partial))
        summary = {
            "task": task,
            "columns": dataset["train"].column_names,
            "labels": labels,
            **facts,
            "num_rows": {split: len(rows) for split, rows in dataset.items()},
            "documents": {
                split: len(set(rows[DOCUMENT])) for split, rows in dataset.items() if DOCUMENT in rows.column_names
            },
            "fingerprints": {split: content_fingerprint(rows) for split, rows in dataset.items()},
            "source": source,
            **({"annotations": raw.annotations} if raw.annotations else {}),
        }
        write_json(partial / LOAD_SUMMARY, summary)
    return out_dir

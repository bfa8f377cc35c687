"""load: a dataset from any source, validated and encoded for the task, as an Arrow DatasetDict.

Whatever the source, the artifact has splits ``train``, ``validation`` and, when the
source has one, ``test``, and fixed columns: for NER ``tokens`` (words) and ``ner_tags``
(a sequence of ClassLabel ids); for sequence classification ``text``, ``text_pair`` for
pair tasks, and ``label`` (a ClassLabel id). ``load_summary.json`` beside it records the
task, label list, row counts, per-split content fingerprints and where the data came from.
"""

import hashlib
import json
from pathlib import Path

import datasets

from tasks.artifacts import building, step, write_json
from tasks.config import DataConfig, TaskName
from tasks.errors import PipelineError, not_a_user_error
from tasks.sources import DatasetSource, read_source

CONLL2003_LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
SUMMARY = "load_summary.json"
VALIDATION_FRACTION = 0.1


def derive_labels(tags: list[list[str]]) -> list[str]:
    """A deterministic label order for string tags: O (always) first, then per entity type
    (alphabetical) its B- and I- tags, then any other tags alphabetically."""
    seen = {tag for row in tags for tag in row}
    types = sorted({tag[2:] for tag in seen if tag[:2] in ("B-", "I-")})
    ordered = ["O"] + [f"{prefix}-{kind}" for kind in types for prefix in ("B", "I")]
    return ordered + sorted(seen - set(ordered))


def _check_columns(split: str, dataset: datasets.Dataset, columns: list[str]) -> None:
    for column in columns:
        if column not in dataset.column_names:
            raise PipelineError(
                f"column '{column}' not found in split '{split}'; columns found: {', '.join(dataset.column_names)}"
            )
    if len(dataset) == 0:
        raise PipelineError(f"split '{split}' is empty")


def _tag_names(split: str, dataset: datasets.Dataset, data: DataConfig) -> list[list[str]]:
    """The split's tags as strings, whether stored as strings or ClassLabel ids."""
    feature = dataset.features[data.tags_column]
    inner = getattr(feature, "feature", None)
    tags = list(dataset[data.tags_column])
    if isinstance(inner, datasets.ClassLabel):
        return [[inner.int2str(tag) for tag in row] for row in tags]
    if tags and tags[0] and not isinstance(tags[0][0], str):
        raise PipelineError(
            f"column '{data.tags_column}' in split '{split}' holds integer ids without label names: "
            "store tags as strings or as a ClassLabel sequence"
        )
    return tags


def _ner_source_labels(raw: datasets.DatasetDict, source: DatasetSource, data: DataConfig) -> list[str] | None:
    if source.kind == "embedded":
        return CONLL2003_LABELS
    inner = getattr(raw["train"].features[data.tags_column], "feature", None)
    return list(inner.names) if isinstance(inner, datasets.ClassLabel) else None


def _encode_ner_split(split: str, dataset: datasets.Dataset, data: DataConfig, labels: list[str]) -> dict:
    tokens, tags = list(dataset[data.tokens_column]), _tag_names(split, dataset, data)
    label_ids = {label: index for index, label in enumerate(labels)}
    encoded = []
    for row, (words, row_tags) in enumerate(zip(tokens, tags)):
        if len(words) != len(row_tags):
            raise PipelineError(
                f"split '{split}' row {row}: {len(words)} tokens but {len(row_tags)} tags in '{data.tags_column}'"
            )
        unknown = [tag for tag in row_tags if tag not in label_ids]
        if unknown:
            raise PipelineError(
                f"split '{split}' row {row}: tag '{unknown[0]}' is not in the label list ({', '.join(labels)})"
            )
        encoded.append([label_ids[tag] for tag in row_tags])
    return {"tokens": tokens, "ner_tags": encoded}


def normalize_ner(raw: datasets.DatasetDict, source: DatasetSource, data: DataConfig) -> tuple[dict, list[str]]:
    """Splits with ``tokens`` and ``ner_tags`` (ClassLabel ids) and their label list."""
    for split, dataset in raw.items():
        _check_columns(split, dataset, [data.tokens_column, data.tags_column])
    labels = _ner_source_labels(raw, source, data) or derive_labels(_tag_names("train", raw["train"], data))
    features = datasets.Features(
        {"tokens": datasets.Sequence(datasets.Value("string")), "ner_tags": datasets.Sequence(datasets.ClassLabel(names=labels))}
    )
    encoded = {split: datasets.Dataset.from_dict(_encode_ner_split(split, rows, data, labels), features=features) for split, rows in raw.items()}
    return encoded, labels


def text_columns(found: list[str], data: DataConfig) -> list[str]:
    """The configured text column(s), else sentence1+sentence2 for a pair, else text or sentence."""
    if data.text_columns:
        return data.text_columns
    for candidate in (["sentence1", "sentence2"], ["text"], ["sentence"]):
        if all(column in found for column in candidate):
            return candidate
    raise PipelineError(
        f"no text column found (looked for sentence1+sentence2, text, sentence); columns found: {', '.join(found)}; "
        "name yours with --text-columns"
    )


def _label_names(split: str, dataset: datasets.Dataset, data: DataConfig) -> list[str]:
    """The split's labels as strings, whether stored as strings, integers or ClassLabel ids."""
    feature = dataset.features[data.label_column]
    values = list(dataset[data.label_column])
    if isinstance(feature, datasets.ClassLabel):
        return [feature.int2str(value) for value in values]
    for row, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, (str, int)) or str(value).strip() == "":
            raise PipelineError(
                f"split '{split}' row {row}: label {value!r} in '{data.label_column}' cannot be mapped to a class "
                "(labels must be non-empty strings, integers or ClassLabel ids)"
            )
    return [str(value) for value in values]


def classification_labels(train: datasets.Dataset, data: DataConfig) -> list[str]:
    """ClassLabel names in their order; otherwise the training labels sorted (numerically when all are integers)."""
    feature = train.features[data.label_column]
    if isinstance(feature, datasets.ClassLabel):
        return list(feature.names)
    names = set(_label_names("train", train, data))
    numeric = all(name.lstrip("-").isdigit() for name in names)
    return sorted(names, key=int) if numeric else sorted(names)


def _encode_classification_split(split: str, dataset, columns: list[str], data: DataConfig, labels: list[str]) -> dict:
    label_ids = {label: index for index, label in enumerate(labels)}
    names = _label_names(split, dataset, data)
    unseen = next((row for row, name in enumerate(names) if name not in label_ids), None)
    if unseen is not None:
        raise PipelineError(
            f"split '{split}' row {unseen}: label '{names[unseen]}' does not occur in training "
            f"(training labels: {', '.join(labels)})"
        )
    encoded = {"text": list(dataset[columns[0]]), "label": [label_ids[name] for name in names]}
    if len(columns) == 2:
        encoded["text_pair"] = list(dataset[columns[1]])
    return encoded


def normalize_classification(raw: datasets.DatasetDict, source: DatasetSource, data: DataConfig) -> tuple[dict, list[str]]:
    """Splits with ``text`` (and ``text_pair`` for pair tasks) and ``label`` (ClassLabel ids), and the label list."""
    columns = text_columns(raw["train"].column_names, data)
    for split, dataset in raw.items():
        _check_columns(split, dataset, [*columns, data.label_column])
    labels = classification_labels(raw["train"], data)
    features = datasets.Features({
        "text": datasets.Value("string"),
        **({"text_pair": datasets.Value("string")} if len(columns) == 2 else {}),
        "label": datasets.ClassLabel(names=labels),
    })  # fmt: skip
    encoded = {
        split: datasets.Dataset.from_dict(_encode_classification_split(split, rows, columns, data, labels), features=features)
        for split, rows in raw.items()
    }
    return encoded, labels


def normalize(
    raw: datasets.DatasetDict, source: DatasetSource, data: DataConfig, task: TaskName
) -> tuple[datasets.DatasetDict, list[str]]:
    """Encode the splits for ``task`` against one label list (row numbers in errors are the
    source's), then carve a seeded validation split out of train when the source has none."""
    if "train" not in raw:
        raise PipelineError(f"no 'train' split in {source.location}; splits found: {', '.join(raw)}")
    splits = datasets.DatasetDict({split: raw[split] for split in ("train", "validation", "test") if split in raw})
    encode = normalize_ner if task == "ner" else normalize_classification
    encoded, labels = encode(splits, source, data)
    if "validation" not in encoded:
        carved = encoded["train"].train_test_split(test_size=VALIDATION_FRACTION, seed=data.seed)
        encoded["train"], encoded["validation"] = carved["train"], carved["test"]
    return datasets.DatasetDict(encoded), labels


def select_samples(dataset: datasets.DatasetDict, data: DataConfig) -> datasets.DatasetDict:
    """A seeded random training slice and the first N evaluation rows, when limits are set."""
    selected = {}
    for split, rows in dataset.items():
        limit = data.max_train_samples if split == "train" else data.max_eval_samples
        if limit is not None and limit < len(rows):
            rows = rows.shuffle(seed=data.seed).select(range(limit)) if split == "train" else rows.select(range(limit))
        selected[split] = rows.flatten_indices()
    return datasets.DatasetDict(selected)


def content_fingerprint(dataset: datasets.Dataset) -> str:
    payload = json.dumps(dataset.to_dict(), sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


@step("dataset", retries=2, retry_delay_seconds=10, retry_condition_fn=not_a_user_error)
def load_dataset(source: DatasetSource, data: DataConfig, task: TaskName, out_dir: str) -> str:
    """Read, validate and encode the dataset for ``task``; write it with ``save_to_disk`` and its summary."""
    raw = read_source(source, data)
    dataset, labels = normalize(raw, source, data, task)
    dataset = select_samples(dataset, data)
    with building(Path(out_dir)) as partial:
        dataset.save_to_disk(str(partial))
        summary = {
            "task": task,
            "columns": dataset["train"].column_names,
            "labels": labels,
            "num_rows": {split: len(rows) for split, rows in dataset.items()},
            "fingerprints": {split: content_fingerprint(rows) for split, rows in dataset.items()},
            "source": source,
        }
        write_json(partial / SUMMARY, summary)
    return out_dir


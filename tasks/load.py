"""load: a NER dataset from the Hub, local files or the embedded CoNLL-2003, as an Arrow DatasetDict.

Whatever the source, the artifact has the columns ``tokens`` (words) and ``ner_tags``
(a sequence of ClassLabel ids) and splits ``train``, ``validation`` and, when the
source has one, ``test``. ``load_summary.json`` beside it records the label list,
row counts, per-split content fingerprints and where the data came from.
"""

import hashlib
import json
from pathlib import Path
from typing import Literal

import datasets
from prefect import task
from pydantic import BaseModel, ConfigDict

from tasks.artifacts import OutDirKey, Step, building, hash_files, write_json
from tasks.assets import EMBEDDED_CONLL2003, EMBEDDED_CONLL2003_HUB_ID, embedded_conll2003_files
from tasks.config import DataConfig
from tasks.errors import PipelineError, not_a_user_error

CONLL2003_LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
SUMMARY = "load_summary.json"
VALIDATION_FRACTION = 0.1

_FORMATS = {
    ".txt": "conll", ".conll": "conll", ".iob": "conll", ".iob2": "conll", ".bio": "conll",
    ".json": "json", ".jsonl": "json", ".csv": "csv", ".tsv": "csv", ".parquet": "parquet",
}  # fmt: skip
_SPLIT_NAMES = {"train": ("train",), "validation": ("validation", "valid", "dev", "val"), "test": ("test",)}


class DatasetSource(BaseModel):
    """Where the data comes from, resolved before any step runs; its digest changes with local file contents."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["hub", "local", "embedded"]
    location: str
    files: dict[str, str] = {}
    format: str | None = None
    config_name: str | None = None
    revision: str | None = None
    digest: str | None = None

    @property
    def hub_id(self) -> str | None:
        """The dataset's Hub id for card metadata; None for local files."""
        return {"hub": self.location, "embedded": EMBEDDED_CONLL2003_HUB_ID}.get(self.kind)


def _looks_local(reference: str) -> bool:
    return reference.startswith(("/", ".", "~")) or Path(reference).suffix in _FORMATS or reference.count("/") > 1


def _split_files(folder: Path) -> dict[str, Path]:
    files = {}
    for split, stems in _SPLIT_NAMES.items():
        found = [path for path in sorted(folder.iterdir()) if path.stem in stems and path.suffix in _FORMATS]
        if found:
            files[split] = found[0]
    if "train" not in files:
        raise PipelineError(
            f"no training file in {folder}: expected train.<ext> with <ext> one of {', '.join(sorted(_FORMATS))}"
        )
    return files


def _local_source(path: Path, kind: Literal["local", "embedded"]) -> DatasetSource:
    files = _split_files(path) if path.is_dir() else {"train": path}
    formats = {_FORMATS.get(file.suffix) for file in files.values()}
    if None in formats or len(formats) != 1:
        raise PipelineError(
            f"cannot tell the format of {path}: use one of {', '.join(sorted(_FORMATS))} for every split"
        )
    return DatasetSource(
        kind=kind,
        location=str(path),
        files={split: str(file) for split, file in files.items()},
        format=formats.pop(),
        digest=hash_files(list(files.values())),
    )


def resolve_dataset(data: DataConfig) -> DatasetSource:
    """Turn the ``dataset`` option into a source, failing early on files that do not exist."""
    if data.dataset == EMBEDDED_CONLL2003:
        return _local_source(embedded_conll2003_files()["train"].parent, "embedded")
    path = Path(data.dataset).expanduser()
    if path.exists():
        return _local_source(path.resolve(), "local")
    if _looks_local(data.dataset):
        raise PipelineError(f"dataset file not found: {data.dataset}")
    return DatasetSource(
        kind="hub", location=data.dataset, config_name=data.dataset_config, revision=data.dataset_revision
    )


def _conll_columns(first_file: Path, data: DataConfig) -> list[str]:
    """Name the whitespace-separated columns: the first holds the word, the last the tag."""
    with open(first_file, encoding="utf-8") as stream:
        for line in stream:
            if line.strip() and not line.startswith("-DOCSTART-"):
                width = len(line.split())
                break
        else:
            raise PipelineError(f"{first_file} holds no sentences")
    if width < 2:
        raise PipelineError(f"{first_file}: expected at least two columns per line (word and tag), found one")
    return [data.tokens_column, *[f"column_{i}" for i in range(1, width - 1)], data.tags_column]


def _has_rows(file: Path) -> bool:
    with open(file, encoding="utf-8", errors="replace") as stream:
        return any(line.strip() and not line.startswith("-DOCSTART-") for line in stream)


def read_source(source: DatasetSource, data: DataConfig) -> datasets.DatasetDict:
    """The raw splits as the source has them."""
    if source.kind == "hub":
        try:
            return datasets.load_dataset(source.location, source.config_name, revision=source.revision)
        except datasets.exceptions.DatasetNotFoundError as error:
            raise PipelineError(f"dataset {source.location} not found on the Hub: {error}") from error
    for split, file in source.files.items():
        if not _has_rows(Path(file)):
            raise PipelineError(f"split '{split}' is empty: {file} holds no rows")
    files = {split: [file] for split, file in source.files.items()}
    options = {}
    if source.format == "conll":
        options["column_names"] = _conll_columns(Path(source.files["train"]), data)
    if source.format == "csv" and Path(source.files["train"]).suffix == ".tsv":
        options["sep"] = "\t"
    try:
        return datasets.load_dataset(source.format, data_files=files, **options)
    except (ValueError, datasets.exceptions.DatasetGenerationError) as error:
        raise PipelineError(f"cannot read {source.location} as {source.format}: {error}") from error


def derive_labels(tags: list[list[str]]) -> list[str]:
    """A deterministic label order for string tags: O (always) first, then per entity type
    (alphabetical) its B- and I- tags, then any other tags alphabetically."""
    seen = {tag for row in tags for tag in row}
    types = sorted({tag[2:] for tag in seen if tag[:2] in ("B-", "I-")})
    ordered = ["O"] + [f"{prefix}-{kind}" for kind in types for prefix in ("B", "I")]
    return ordered + sorted(seen - set(ordered))


def _check_columns(split: str, dataset: datasets.Dataset, data: DataConfig) -> None:
    for column in (data.tokens_column, data.tags_column):
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


def _source_labels(raw: datasets.DatasetDict, source: DatasetSource, data: DataConfig) -> list[str] | None:
    if source.kind == "embedded":
        return CONLL2003_LABELS
    inner = getattr(raw["train"].features[data.tags_column], "feature", None)
    return list(inner.names) if isinstance(inner, datasets.ClassLabel) else None


def _encode_split(split: str, dataset: datasets.Dataset, data: DataConfig, labels: list[str]) -> dict:
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


def normalize(raw: datasets.DatasetDict, source: DatasetSource, data: DataConfig) -> tuple[datasets.DatasetDict, list[str]]:
    """Rename to ``tokens``/``ner_tags`` and encode tags against one label list (row numbers
    in errors are the source's), then carve a seeded validation split out of train when the
    source has none."""
    for split, dataset in raw.items():
        _check_columns(split, dataset, data)
    if "train" not in raw:
        raise PipelineError(f"no 'train' split in {source.location}; splits found: {', '.join(raw)}")
    labels = _source_labels(raw, source, data) or derive_labels(_tag_names("train", raw["train"], data))
    features = datasets.Features(
        {"tokens": datasets.Sequence(datasets.Value("string")), "ner_tags": datasets.Sequence(datasets.ClassLabel(names=labels))}
    )
    encoded = {
        split: datasets.Dataset.from_dict(_encode_split(split, raw[split], data, labels), features=features)
        for split in ("train", "validation", "test")
        if split in raw
    }
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
    payload = json.dumps([list(dataset["tokens"]), list(dataset["ner_tags"])])
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


@task(
    cache_policy=OutDirKey(), persist_result=True, result_serializer="json",
    retries=2, retry_delay_seconds=10, retry_condition_fn=not_a_user_error,
)  # fmt: skip
def load_dataset(source: DatasetSource, data: DataConfig, out_dir: str) -> str:
    """Read, validate and encode the dataset; write it with ``save_to_disk`` and its summary."""
    raw = read_source(source, data)
    dataset, labels = normalize(raw, source, data)
    dataset = select_samples(dataset, data)
    with building(Path(out_dir)) as partial:
        dataset.save_to_disk(str(partial))
        summary = {
            "labels": labels,
            "num_rows": {split: len(rows) for split, rows in dataset.items()},
            "fingerprints": {split: content_fingerprint(rows) for split, rows in dataset.items()},
            "source": source,
        }
        write_json(partial / SUMMARY, summary)
    return out_dir


LOAD = Step(load_dataset, "dataset", version=1)

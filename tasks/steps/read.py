"""What the predict flow reads: a file, a folder's split, a Hub dataset's split or an embedded one, in the
formats training reads or as plain text, made into one row per sentence (NER) or text (classification).

Each row keeps the line it came from, so an empty or unreadable row is reported by line and skipped
(`--strict` makes it fatal). NER rows hold words with their character offsets in the row's text, so
entities can be given as spans of it; plain text is split into words at spaces and punctuation.
Tags and labels in the input are kept as strings, for `--score` and the ONNX parity check.
"""

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from tasks.config.sections import ColumnsConfig, TaskName
from tasks.data.assets import EMBEDDED_CONLL2003, embedded_conll2003_files
from tasks.data.context import DOCUMENT, numbered
from tasks.data.local_files import json_rows, text_lines
from tasks.data.sources import FORMATS, SPLIT_NAMES
from tasks.data.spans import SpanProblem, annotated, span_shape, tagged, words_with_offsets
from tasks.errors import PipelineError
from tasks.storage.artifacts import building
from tasks.storage.catalog import INPUT_SUMMARY
from tasks.storage.files import hash_files, write_json
from tasks.storage.step import step

INPUT_SPLIT = "input"  # the one split of the input artifact
_TAG = re.compile(r"O|[BIESLU]-\S+")
PAIR_COLUMNS, TEXT_COLUMNS = ("sentence1", "sentence2"), ("text", "sentence")


class InputSource(BaseModel):
    """Where the input is, resolved before any step; ``digest`` changes with a file's contents."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["file", "hub"]
    location: str
    format: str | None = None  # a file's: conll, text, json, csv, parquet
    split: str | None = None  # a Hub dataset's
    digest: str | None = None


@dataclass
class InputRows:
    """The rows read, in columns (`NER_COLUMNS` or `CLASSIFICATION_COLUMNS`), and the rows left out, by line."""

    columns: dict[str, list] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def add(self, **row) -> None:
        for name, value in row.items():
            self.columns.setdefault(name, []).append(value)


def _file_format(path: Path, input_format: str) -> str:
    if input_format != "auto":
        return input_format
    if path.suffix not in FORMATS:
        return "text"
    return (
        "text"
        if FORMATS[path.suffix] == "conll" and not looks_like_conll(path.read_text(errors="replace"))
        else FORMATS[path.suffix]
    )


def looks_like_conll(text: str) -> bool:
    """Whether a .txt file is CoNLL text: most of its non-blank lines have at least two columns and end in a tag."""
    lines = [line.split() for line in text.splitlines()[:2000] if line.strip() and not line.startswith("-DOCSTART-")]
    tagged = sum(len(columns) >= 2 and bool(_TAG.fullmatch(columns[-1])) for columns in lines)
    return bool(lines) and tagged >= 0.9 * len(lines)


def _split_file(folder: Path, split: str) -> Path:
    stems = SPLIT_NAMES.get(split, (split,))
    found = [path for path in sorted(folder.iterdir()) if path.is_file() and path.stem in stems]
    if not found:
        raise PipelineError(f"no {split} file in {folder}: expected {split}.<ext>, or pass --split")
    return found[0]


def resolve_input(input: str, split: str, input_format: str) -> InputSource:
    """Turn the ``input`` option into a source, failing early on a file that does not exist."""
    if input == EMBEDDED_CONLL2003:
        files = embedded_conll2003_files()
        if split not in files:
            raise PipelineError(f"{EMBEDDED_CONLL2003} has no split '{split}': use {', '.join(files)}")
        input = str(files[split])
    elif input.startswith("embedded:"):
        raise PipelineError(
            f"cannot predict over {input}: the embedded dataset to predict over is {EMBEDDED_CONLL2003}"
        )
    path = Path(input).expanduser()
    if path.exists():
        file = _split_file(path, split) if path.is_dir() else path
        return InputSource(
            kind="file",
            location=str(file.resolve()),
            format=_file_format(file, input_format),
            digest=hash_files([file]),
        )
    if input.startswith(("/", ".", "~")) or Path(input).suffix in FORMATS:
        raise PipelineError(f"input file not found: {input}")
    return InputSource(kind="hub", location=input, split=split)


def joined(words: list[str]) -> tuple[str, list[list[int]]]:
    """Words as one text, a space between each, and each word's offsets in it."""
    offsets, position = [], 0
    for word in words:
        offsets.append([position, position + len(word)])
        position += len(word) + 1
    return " ".join(words), offsets


def _records(source: InputSource, encoding: str | None):
    """``(line, row)`` for every row of a JSON lines, CSV, TSV or Parquet file, or a Hub split (row number
    as line); a row that cannot be parsed is ``(line, error message)``."""
    path = Path(source.location)
    if source.kind == "hub":
        import datasets

        try:
            rows = datasets.load_dataset(source.location, split=source.split)
        except (datasets.exceptions.DatasetNotFoundError, ValueError) as error:
            raise PipelineError(f"cannot load split '{source.split}' of {source.location}: {error}") from error
        yield from enumerate(rows, 1)
    elif source.format == "parquet":
        import pyarrow.parquet

        yield from enumerate(pyarrow.parquet.read_table(path).to_pylist(), 1)
    elif source.format == "json":
        yield from json_rows(path, encoding)[1]
    else:  # csv or tsv
        reader = csv.DictReader(
            io.StringIO("".join(text_lines(path, encoding))), delimiter="\t" if path.suffix == ".tsv" else ","
        )
        for row in reader:
            yield reader.line_num, row


def _conll_rows(path: Path, encoding: str | None, rows: InputRows) -> None:
    """Sentences of a CoNLL file: words from the first column, tags from the last when there are two or more,
    and their documents when the file marks them (-DOCSTART-)."""
    words, tags, first, documents = [], [], 0, 0
    for number, line in enumerate([*text_lines(path, encoding), "\n"], 1):
        columns, starts = line.split(), line.startswith("-DOCSTART-")
        if words and (not columns or starts):
            text, offsets = joined(words)
            rows.add(
                line=first,
                text=text,
                tokens=words,
                offsets=offsets,
                gold=tags if None not in tags else None,
                document=documents,
            )
            words, tags, first = [], [], 0
        if starts:
            documents += 1
        elif columns:
            first = first or number
            words.append(columns[0])
            tags.append(columns[-1] if len(columns) > 1 else None)
    if not documents:
        rows.columns.pop(DOCUMENT, None)


def _ner_record(line: int, record: dict, columns: ColumnsConfig, rows: InputRows) -> str | None:
    """Add a row of words (``tokens_column``), of text with spans (`tasks.data.spans`: its tags are the spans'), or
    of text (the first text column); the problem, if any."""
    gold = record.get(columns.tags_column)
    if shape := span_shape(record):
        try:
            row = annotated(record, shape)
            words, offsets, gold = tagged(row.text, row.spans)
        except SpanProblem as problem:
            return str(problem)
        text, record = row.text, row.fields
    elif isinstance(record.get(columns.tokens_column), list):
        words = [str(word) for word in record[columns.tokens_column]]
        text, offsets = joined(words)
    else:
        name = next((name for name in (*(columns.text_columns or ()), *TEXT_COLUMNS) if name in record), None)
        if name is None:
            return f"no '{columns.tokens_column}' list of words and no text column ({', '.join(TEXT_COLUMNS)})"
        text = str(record[name] or "")
        words, offsets = words_with_offsets(text)
        gold = None  # tags belong to words given as a list
    if not words:
        return "empty text" if not text.strip() else "no words"
    if gold is not None and (not isinstance(gold, list) or len(gold) != len(words)):
        return f"{len(words)} words but tags {gold!r:.60}"
    document = {}
    if columns.document_column:
        if record.get(columns.document_column) is None:
            return f"no document in column '{columns.document_column}'"
        document = {DOCUMENT: str(record[columns.document_column])}
    rows.add(
        line=line,
        text=text,
        tokens=words,
        offsets=offsets,
        gold=[str(tag) for tag in gold] if gold else None,
        **document,
    )
    return None


def _text_columns(columns: ColumnsConfig, found: list[str]) -> list[str]:
    if columns.text_columns:
        return columns.text_columns
    if all(name in found for name in PAIR_COLUMNS):
        return list(PAIR_COLUMNS)
    return [next((name for name in TEXT_COLUMNS if name in found), TEXT_COLUMNS[0])]


def _classification_record(line: int, record: dict, columns: ColumnsConfig, rows: InputRows) -> str | None:
    names = _text_columns(columns, list(record))
    missing = [name for name in names if name not in record]
    if missing:
        return f"no column '{missing[0]}' (columns: {', '.join(record)})"
    texts = [str(record[name]).strip() if record[name] is not None else "" for name in names]
    if not all(texts):
        return "empty text"
    label = record.get(columns.label_column)
    rows.add(
        line=line,
        text=texts[0],
        text_pair=texts[1] if len(texts) > 1 else None,
        gold=None if label is None else str(label),
    )
    return None


def _text_file_rows(path: Path, encoding: str | None, task: TaskName, rows: InputRows) -> None:
    """Plain text: one sentence or text per line (a tab between a pair's texts). For NER, the lines up to a
    blank line are a document; for classification, a blank line is a problem."""
    document = 0
    for number, line in enumerate(text_lines(path, encoding), 1):
        text = line.rstrip("\r\n")
        if not text.strip():
            document += 1
            if task != "ner":
                rows.problems.append(f"line {number}: empty")
        elif task == "ner":
            words, offsets = words_with_offsets(text)
            rows.add(line=number, text=text, tokens=words, offsets=offsets, gold=None, document=document)
        else:
            first, _, second = text.partition("\t")
            rows.add(line=number, text=first.strip(), text_pair=second.strip() or None, gold=None)


def read_rows(source: InputSource, columns: ColumnsConfig, task: TaskName) -> InputRows:
    """Every row of the input, and the rows left out (by line, with why)."""
    rows = InputRows()
    if source.format == "conll":
        if task != "ner":
            raise PipelineError(
                f"{source.location} is CoNLL text, which holds words and tags: a classification "
                "model reads plain text, JSON lines, CSV, TSV or Parquet"
            )
        _conll_rows(Path(source.location), columns.encoding, rows)
    elif source.format == "text":
        _text_file_rows(Path(source.location), columns.encoding, task, rows)
    else:
        add = _ner_record if task == "ner" else _classification_record
        for line, record in _records(source, columns.encoding):
            problem = record if isinstance(record, str) else add(line, record, columns, rows)
            if problem:
                rows.problems.append(f"line {line}: {problem}")
    return rows


def scorable(gold: list, lines: list[int], labels: list[str], task: TaskName) -> tuple[dict | None, str | None]:
    """The gold tags (any scheme, in IOB2) or labels as the model's label ids, in the columns the evaluate
    step scores (``ner_tags``, ``label``); or None and why, when one is not among the model's labels."""
    from tasks.data.tag_schemes import BadTag, detect_scheme, to_iob2

    if task == "ner":
        try:
            scheme = detect_scheme(gold)
            gold = [to_iob2(tags, scheme, row) for row, tags in enumerate(gold)]
        except BadTag as error:
            return None, f"line {lines[error.row]}: tag '{error.tag}': {error.reason}"
    ids = {label: index for index, label in enumerate(labels)}
    for row, value in enumerate(gold):
        unknown = [item for item in (value if task == "ner" else [value]) if item not in ids]
        if unknown:
            return None, f"line {lines[row]}: '{unknown[0]}' is not among the model's labels ({', '.join(labels)})"
    if task == "ner":
        return {"ner_tags": [[ids[tag] for tag in tags] for tags in gold]}, None
    return {"label": [ids[label] for label in gold]}, None


@step()
def read(source: InputSource, columns: ColumnsConfig, task: TaskName, labels: list[str], out_dir: str) -> str:
    """Read the input into an Arrow dataset (split ``input``) of one row per sentence or text, with
    ``input_summary.json``: the rows read, the rows left out by line, and whether the input can be scored
    against the model's ``labels`` (its tags or labels then are ``ner_tags`` or ``label``, as evaluate reads)."""
    import datasets

    rows = read_rows(source, columns, task)
    if not rows.columns:
        raise PipelineError(
            f"{source.location} holds no row to predict" + (f": {rows.problems[0]}" if rows.problems else "")
        )
    gold = rows.columns.pop("gold")
    if DOCUMENT in rows.columns:
        rows.columns[DOCUMENT] = numbered(rows.columns[DOCUMENT])
    if rows.columns.get("text_pair") and None in rows.columns["text_pair"]:
        del rows.columns["text_pair"]  # a pair model needs both texts of every row; a single-text model reads the first
    scored, unscorable = (
        (None, "it holds no tags or labels") if None in gold else scorable(gold, rows.columns["line"], labels, task)
    )
    dataset = datasets.Dataset.from_dict({**rows.columns, **(scored or {})})
    if scored:
        names = datasets.ClassLabel(names=labels)
        dataset = dataset.cast_column(*(("ner_tags", datasets.Sequence(names)) if task == "ner" else ("label", names)))
    with building(Path(out_dir)) as partial:
        datasets.DatasetDict({INPUT_SPLIT: dataset}).save_to_disk(str(partial))
        write_json(
            partial / INPUT_SUMMARY,
            {
                "source": source.model_dump(),
                "task": task,
                "rows": len(dataset),
                "problems": rows.problems,
                "unscorable": unscorable,
            },
        )
    return out_dir

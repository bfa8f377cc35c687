"""Reading local data files: text in its encoding, CoNLL sentences, JSON lines and lists, and the rows of
span-annotated exports, each problem named by file and line."""

import codecs
import io
import json
from pathlib import Path
from typing import NamedTuple

import datasets

from tasks.config.sections import DataConfig
from tasks.data.context import DOCUMENT
from tasks.data.spans import SpanProblem, annotated, tagged
from tasks.errors import PipelineError


def codec(encoding: str | None) -> str:
    # utf-8-sig reads a file with or without a byte-order mark; plain utf-8 would glue the
    # mark to the first word.
    if encoding is None or codecs.lookup(encoding).name == "utf-8":
        return "utf-8-sig"
    return encoding


def _undecodable(path: Path, encoding: str | None, error: UnicodeDecodeError) -> PipelineError:
    """Name the line and the byte: the error holds the bytes it decoded, so its offset locates both."""
    line = error.object.count(b"\n", 0, error.start) + 1
    return PipelineError(
        f"{path} line {line}: byte 0x{error.object[error.start]:02x} is not valid {encoding or 'UTF-8'}; "
        "save the file as UTF-8 or pass --encoding (for example latin-1)"
    )


def text_lines(path: Path, encoding: str | None) -> list[str]:
    """Every line of a text file, decoded as ``encoding`` (none: UTF-8, a byte-order mark allowed)."""
    raw = path.read_bytes()
    try:
        text = raw.decode(codec(encoding))
    except UnicodeDecodeError as error:
        raise _undecodable(path, encoding, error) from error
    # Split as open() does, on line ends only: str.splitlines would also split at \x85 or \u2028 inside a word.
    return io.StringIO(text, newline=None).readlines()


class ConllSentences(NamedTuple):
    words: list[list[str]]
    tags: list[list[str]]
    documents: list[int]  # each sentence's count of -DOCSTART- lines before it


def _words_and_tags(path: Path, lines: list[str]) -> ConllSentences:
    """Each sentence's words (first column), tags (last column) and document: a blank line ends a sentence,
    a -DOCSTART- line starts a document, and every line must have as many columns as the first."""
    # Only the two strings of a line are kept: a list per line would set the garbage collector
    # scanning hundreds of thousands of them, seconds for CoNLL-2003.
    read = ConllSentences([[]], [[]], [0])
    first: tuple[int, int] | None = None  # line number and column count of the first word line
    for number, line in enumerate(lines, 1):
        columns = line.split()
        if not columns:
            if read.words[-1]:
                read.words.append([])
                read.tags.append([])
                read.documents.append(read.documents[-1])
            continue
        if line.startswith("-DOCSTART-"):
            read.documents[-1] += 1
            continue
        first = first or (number, len(columns))
        if len(columns) != first[1]:
            raise PipelineError(
                f"{path} line {number}: {len(columns)} columns, but line {first[0]} has {first[1]}; "
                "every line of a CoNLL file needs the same columns (word first, tag last)"
            )
        read.words[-1].append(columns[0])
        read.tags[-1].append(columns[-1])
    if first and first[1] < 2:
        raise PipelineError(f"{path}: expected at least two columns per line (word and tag), found one")
    # A last blank line opened an empty sentence.
    return read if read.words[-1] else ConllSentences(read.words[:-1], read.tags[:-1], read.documents[:-1])


def conll_line(path: Path, encoding: str | None, sentence: int, word: int) -> int:
    """The line number of a sentence's word in a CoNLL file, sentences and words counted as `read_conll` does."""
    sentences, words, inside = -1, 0, False
    for number, line in enumerate(text_lines(path, encoding), 1):
        if not line.split():
            inside = False
        elif not line.startswith("-DOCSTART-"):
            sentences, words, inside = (sentences, words, True) if inside else (sentences + 1, 0, True)
            if (sentences, words) == (sentence, word):
                return number
            words += 1
    raise ValueError(f"{path} has no word {word} in sentence {sentence}")


def read_conll(path: Path, data: DataConfig) -> datasets.Dataset:
    """A CoNLL file's sentences: words from the first column, tags from the last, and the document of each
    when the file marks documents (-DOCSTART-)."""
    read = _words_and_tags(path, text_lines(path, data.encoding))
    documents = {DOCUMENT: read.documents} if read.documents and read.documents[-1] else {}
    return datasets.Dataset.from_dict({data.tokens_column: read.words, data.tags_column: read.tags, **documents})


def has_rows(file: Path, encoding: str | None) -> bool:
    """Whether the file holds more than blank and -DOCSTART- lines; a text file is decoded whole
    here, so an undecodable byte is named before any reader meets it."""
    if file.suffix == ".parquet":
        return file.stat().st_size > 0
    return any(line.strip() and not line.startswith("-DOCSTART-") for line in text_lines(file, encoding))


def json_rows(path: Path, encoding: str | None) -> tuple[str, list[tuple[int, object]]]:
    """The rows of a JSON lines file, numbered by line (``"line"``), or of a JSON list, numbered from 1
    (``"row"``); a line that is not JSON is its error message in place of the row."""
    lines = text_lines(path, encoding)
    if next((line.strip() for line in lines if line.strip()), "").startswith("["):
        try:
            items = json.loads("".join(lines))
        except json.JSONDecodeError as error:
            raise PipelineError(f"{path} line {error.lineno} column {error.colno}: not JSON: {error.msg}") from error
        return "row", list(enumerate(items, 1))
    rows: list[tuple[int, object]] = []
    for number, line in enumerate(lines, 1):
        if line.strip():
            try:
                rows.append((number, json.loads(line)))
            except json.JSONDecodeError as error:
                rows.append((number, f"not a JSON object: {error.msg}"))
    return "line", rows


def first_json_row(path: Path, encoding: str | None):
    first = next((line for line in text_lines(path, encoding) if line.strip()), "")
    if first.lstrip().startswith("["):
        rows = json_rows(path, encoding)[1]
        return rows[0][1] if rows else None
    try:
        return json.loads(first)
    except json.JSONDecodeError:
        return None


def span_rows(path: Path, data: DataConfig, shape: str) -> tuple[datasets.Dataset, dict]:
    """A span-annotated file's words and IOB2 tags; the rows left out by kind and the tasks annotated more than once."""
    unit, rows = json_rows(path, data.encoding)
    columns: dict[str, list] = {data.tokens_column: [], data.tags_column: []}
    left_out: dict[str, list[str]] = {}
    several = 0
    for number, record in rows:
        try:
            if isinstance(record, str):
                raise SpanProblem("not JSON", record.removeprefix("not a JSON object: "))
            row = annotated(record, shape)
            words, _, tags = tagged(row.text, row.spans)
            if not words:
                raise SpanProblem("no words", "the text is empty" if not row.text.strip() else "no words")
            if data.document_column and row.fields.get(data.document_column) is None:
                raise SpanProblem("no document", f"column '{data.document_column}' is empty or missing")
        except SpanProblem as problem:
            left_out.setdefault(problem.kind, []).append(f"{unit} {number}: {problem.detail}")
            continue
        several += row.annotations > 1
        columns[data.tokens_column].append(words)
        columns[data.tags_column].append(tags)
        if data.document_column:
            columns.setdefault(data.document_column, []).append(str(row.fields[data.document_column]))
    found = {"file": str(path), "rows": len(rows), "left_out": left_out, "several_annotations": several}
    return datasets.Dataset.from_dict(columns), found


def left_out_lines(annotations: dict) -> list[str]:
    """One line per file and kind of row left out, naming the first rows of that kind."""
    lines = []
    for file in annotations.get("files", {}).values():
        for kind, rows in file["left_out"].items():
            shown = "; ".join(rows[:3]) + ("; …" if len(rows) > 3 else "")
            lines.append(f"{Path(file['file']).name}: {len(rows)} of {file['rows']} rows left out, {kind}: {shown}")
    return lines


def annotation_notes(annotations: dict) -> list[str]:
    """A line for each file with tasks annotated more than once, of which the latest annotation was read."""
    return [
        f"{Path(file['file']).name}: {file['several_annotations']} tasks annotated more than once; the latest "
        "annotation of each was read"
        for file in annotations.get("files", {}).values()
        if file["several_annotations"]
    ]

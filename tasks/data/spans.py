"""Span-annotated NER data, as annotation tools export it: a text and character spans, made into words with
IOB2 tags. Which shape a row has is read from the row; no option names it.

- doccano: ``{"text": ..., "label": [[start, end, "PER"], ...]}``;
- spaCy, Prodigy and doccano's newer export: ``"spans"`` or ``"entities"``, lists of objects with ``start`` and
  ``end`` (or ``start_offset`` and ``end_offset``) and ``label`` (or ``type``, or ``entity_group`` as the predict
  flow's ``entities.jsonl`` writes);
- Label Studio's JSON export: tasks whose ``data`` holds the text and whose ``annotations`` hold the spans (of
  several annotations, the latest that was not cancelled).

Words come from the text by the splitter prediction uses. A span's leading and trailing spaces are dropped; a
span that then cuts a word, overlaps another, runs past the text, is empty or has an empty label makes its row
a `SpanProblem`: the row is left out rather than trained on half right.
"""

import re
from dataclasses import dataclass

# Words as CoNLL-2003 cuts them: dotted acronyms (U.S.), clitics ('s, 're, 'll), numbers with inner commas, dots
# or slashes (35,563; 13.6; 1996/97), runs of letters and digits with inner hyphens, apostrophes and dots (2-1,
# O'Neill), runs of one punctuation mark (--, ...), and any other character that is not a space on its own.
_WORD = re.compile(r"(?:[A-Za-z]\.){2,}|'(?i:s|re|m|ll|ve|d)\b|\d+(?:[,/.]\d+)+|\w+(?:[-'.]\w+)*|([^\w\s])\1+|[^\w\s]")
_LABEL_KEYS = ("label", "type", "entity_group")
SHAPES = ("label-studio", "doccano", "spans", "entities")
# What can be wrong with a span; each makes its row a problem of that kind.
CUTS_A_WORD, OVERLAPS, PAST_THE_TEXT = "a span cuts a word", "a span overlaps another", "a span runs past the text"
EMPTY, NO_LABEL = "a span is empty", "a span has an empty label"
KINDS = (CUTS_A_WORD, OVERLAPS, PAST_THE_TEXT, EMPTY, NO_LABEL)


def words_with_offsets(text: str) -> tuple[list[str], list[list[int]]]:
    """The words of a plain text and where each starts and ends in it."""
    matches = list(_WORD.finditer(text))
    return [match.group() for match in matches], [[match.start(), match.end()] for match in matches]


def entity_words(tags: list[str]) -> list[tuple[int, int, str]]:
    """The entities of IOB2-style tags as ``(first word, last word, type)``: a B- tag, or an I- tag after O or
    after another type, starts one."""
    entities: list[tuple[int, int, str]] = []
    for index, tag in enumerate(tags):
        prefix, _, kind = tag.partition("-")
        if not kind:
            continue
        if prefix == "B" or not entities or entities[-1][1] != index - 1 or entities[-1][2] != kind:
            entities.append((index, index, kind))
        else:
            entities[-1] = (entities[-1][0], index, kind)
    return entities


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    label: str


@dataclass(frozen=True)
class Annotated:
    """One row of span-annotated data: its text, its spans, and the fields beside them (for a document id)."""

    text: str
    spans: tuple[Span, ...]
    fields: dict
    annotations: int = 1  # Label Studio: how many annotations the task holds (the latest is read)


class SpanProblem(ValueError):
    """Why a row cannot be read: ``kind`` (one of `KINDS`, or what the row lacks) and where in it."""

    def __init__(self, kind: str, detail: str):
        super().__init__(f"{kind}: {detail}")
        self.kind, self.detail = kind, detail


def _is_triple(item) -> bool:
    return isinstance(item, list) and len(item) == 3 and all(isinstance(value, int) for value in item[:2])


def _is_span_object(item) -> bool:
    return isinstance(item, dict) and ({"start", "end"} <= item.keys() or {"start_offset", "end_offset"} <= item.keys())


def span_shape(record) -> str | None:
    """Which of `SHAPES` a row has, or None when it holds no text with spans (such as words with tags)."""
    if not isinstance(record, dict):
        return None
    if isinstance(record.get("data"), dict) and isinstance(record.get("annotations"), list):
        return "label-studio"
    if not isinstance(record.get("text"), str):
        return None
    if isinstance(record.get("label"), list) and all(_is_triple(item) for item in record["label"]):
        return "doccano"
    for key in ("spans", "entities"):
        if isinstance(record.get(key), list) and all(_is_span_object(item) for item in record[key]):
            return key
    return None


def _span(item: dict) -> Span:
    start, end = (item["start"], item["end"]) if "start" in item else (item["start_offset"], item["end_offset"])
    label = next((item[key] for key in _LABEL_KEYS if key in item), "")
    return Span(int(start), int(end), str(label or ""))


def _latest(annotations: list[dict]) -> dict | None:
    kept = [
        (index, found)
        for index, found in enumerate(annotations)
        if isinstance(found, dict) and not found.get("was_cancelled")
    ]
    if not kept:
        return None
    # ISO times sort as text; without them, the later in the list is the later annotation.
    return max(kept, key=lambda pair: (str(pair[1].get("updated_at") or pair[1].get("created_at") or ""), pair[0]))[1]


def _label_studio(task: dict) -> Annotated:
    data = task["data"]
    texts = [value for value in data.values() if isinstance(value, str)]
    text = data.get("text") if isinstance(data.get("text"), str) else texts[0] if len(texts) == 1 else None
    if text is None:
        raise SpanProblem("no text", f"the task's data holds {', '.join(data) or 'nothing'}")
    latest = _latest(task["annotations"])
    results = [result.get("value", {}) for result in (latest or {}).get("result", []) if isinstance(result, dict)]
    spans = tuple(
        Span(int(value["start"]), int(value["end"]), str((value.get("labels") or [""])[0] or ""))
        for value in results
        if {"start", "end"} <= value.keys()
    )
    return Annotated(text, spans, data, annotations=len(task["annotations"]))


def annotated(record, shape: str) -> Annotated:
    """The text and spans of a row of the file's ``shape``; a `SpanProblem` when the row has another."""
    found = span_shape(record)
    if found is None or (found != shape and "label-studio" in (found, shape)):
        raise SpanProblem("no text with spans", f"the file's first row is a {shape} export")
    if found == "label-studio":
        return _label_studio(record)
    if found == "doccano":
        return Annotated(
            record["text"], tuple(Span(start, end, str(label or "")) for start, end, label in record["label"]), record
        )
    return Annotated(record["text"], tuple(_span(item) for item in record[found]), record)


def _trimmed(text: str, span: Span) -> Span:
    """The span without the spaces at its ends, which annotation tools often take in with a word."""
    start, end = span.start, span.end
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return Span(start, end, span.label.strip())


def _described(text: str, span: Span) -> str:
    return f"characters {span.start}-{span.end} ({text[max(span.start, 0) : span.end][:40]!r})"


def tagged(text: str, spans: tuple[Span, ...]) -> tuple[list[str], list[list[int]], list[str]]:
    """The text's words, their offsets and their IOB2 tags from ``spans`` (repeated spans count once); a
    `SpanProblem` naming the first span that cannot be tags."""
    words, offsets = words_with_offsets(text)
    tags = ["O"] * len(words)
    first_word = {start: index for index, (start, _) in enumerate(offsets)}
    last_word = {end: index for index, (_, end) in enumerate(offsets)}
    for given in sorted(set(spans), key=lambda span: (span.start, span.end)):
        if given.start < 0 or given.end > len(text):
            raise SpanProblem(PAST_THE_TEXT, f"characters {given.start}-{given.end} of a text of {len(text)}")
        span = _trimmed(text, given)
        if not span.label:
            raise SpanProblem(NO_LABEL, _described(text, given))
        if span.start >= span.end:
            raise SpanProblem(EMPTY, _described(text, given))
        first, last = first_word.get(span.start), last_word.get(span.end)
        if first is None or last is None:
            raise SpanProblem(CUTS_A_WORD, _described(text, given))
        if any(tag != "O" for tag in tags[first : last + 1]):
            raise SpanProblem(OVERLAPS, _described(text, given))
        tags[first : last + 1] = [f"B-{span.label}"] + [f"I-{span.label}"] * (last - first)
    return words, offsets, tags

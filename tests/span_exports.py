"""Span-annotated exports built from CoNLL sentences, as annotation tools write them: the words joined with
spaces, each entity a character span of that text. For the tests and `benchmarks/span_imports.py`."""

import json
from pathlib import Path

from tasks.steps.predict import entity_spans
from tasks.steps.read import joined

SHAPES = ("doccano", "spans", "entities", "label-studio")


def _spans(words: list[str], tags: list[str]) -> tuple[str, list[dict]]:
    text, offsets = joined(words)
    # The predict flow's own entities: what its entities.jsonl holds for these tags.
    return text, entity_spans(text, tags, [1.0] * len(tags), offsets)


def export_row(number: int, words: list[str], tags: list[str], shape: str) -> dict:
    """Sentence ``number`` (from 1) as a row of ``shape``."""
    text, found = _spans(words, tags)
    if shape == "doccano":
        return {
            "id": number,
            "text": text,
            "label": [[span["start"], span["end"], span["entity_group"]] for span in found],
        }
    if shape == "spans":
        return {
            "text": text,
            "spans": [{"start": s["start"], "end": s["end"], "label": s["entity_group"]} for s in found],
        }
    if shape == "entities":
        return {"line": number, "text": text, "entities": found}
    results = [
        {
            "value": {"start": s["start"], "end": s["end"], "text": s["word"], "labels": [s["entity_group"]]},
            "from_name": "label",
            "to_name": "text",
            "type": "labels",
        }
        for s in found
    ]
    annotation = {"id": number, "result": results, "was_cancelled": False, "created_at": "2026-11-02T10:00:00.000000Z"}
    return {"id": number, "data": {"text": text}, "annotations": [annotation], "predictions": []}


def write_export(path: Path, sentences: list[tuple[list[str], list[str]]], shape: str) -> Path:
    """``sentences`` (words and IOB2 tags) as a file of ``shape``: JSON lines, or Label Studio's JSON list."""
    rows = [export_row(number, words, tags, shape) for number, (words, tags) in enumerate(sentences, 1)]
    if shape == "label-studio":
        path.write_text(json.dumps(rows, ensure_ascii=False, indent=1))
    else:
        path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    return path

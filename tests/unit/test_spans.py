"""Span-annotated data (`tasks.data.spans`): annotation tools' exports of real CoNLL-2003 sentences read back as
words and tags, the spans that cannot be tags named and left out, and the same rows as prediction input."""

import json
import re
from pathlib import Path

import pytest

from conftest import conll_sentences
from span_exports import SHAPES, export_row, write_export
from tasks.config.sections import ColumnsConfig, DataConfig, ModelConfig
from tasks.data.assets import embedded_conll2003_files
from tasks.data.local_files import left_out_lines
from tasks.data.sources import read_source, resolve_dataset
from tasks.data.spans import Span, SpanProblem, entity_words, tagged, words_with_offsets
from tasks.errors import PipelineError
from tasks.pretrained import resolve_model
from tasks.steps.data_report import data_report, markdown
from tasks.steps.load import load, normalize
from tasks.steps.read import read_rows, resolve_input
from tasks.storage.catalog import DATA_REPORT, LOAD_SUMMARY
from tasks.storage.step import ArtifactStore


@pytest.fixture(scope="module")
def sentences(tmp_path_factory) -> list[tuple[list[str], list[str]]]:
    """The first 400 training sentences of CoNLL-2003: words and IOB2 tags."""
    folder = tmp_path_factory.mktemp("conll")
    (folder / "train.txt").write_text("\n\n".join(conll_sentences(embedded_conll2003_files()["train"], 400)) + "\n")
    return loaded(DataConfig(dataset=str(folder / "train.txt"), max_train_samples=None))


def loaded(data: DataConfig) -> list[tuple[list[str], list[str]]]:
    source = resolve_dataset(data)
    splits, labels, _ = normalize(read_source(source, data).splits, source, data, "ner")
    train = splits["train"]
    return [(words, [labels[tag] for tag in tags]) for words, tags in zip(train["tokens"], train["ner_tags"])]


@pytest.mark.parametrize("shape", SHAPES)
def test_each_export_gives_back_the_conll_tags_wherever_the_words_split_the_same(sentences, tmp_path, shape):
    file = write_export(tmp_path / ("train.json" if shape == "label-studio" else "train.jsonl"), sentences, shape)
    data = DataConfig(dataset=str(file), max_train_samples=None)
    raw = read_source(resolve_dataset(data), data)
    assert raw.annotations["shape"] == shape
    assert left_out_lines(raw.annotations) == [] and raw.annotations["files"]["train"]["rows"] == len(sentences)
    read = list(zip(raw.splits["train"]["tokens"], raw.splits["train"]["ner_tags"]))
    same_words = [(given, back) for given, back in zip(sentences, read) if given[0] == back[0]]
    # The splitter cuts initials, abbreviations and ordinals (M., Corp., 2.) where CoNLL keeps their dot.
    assert len(same_words) >= 0.75 * len(sentences)
    assert all(given[1] == back[1] for given, back in same_words)
    # Where the words differ, the entities are the same text with the same types.
    for (words, tags), (read_words, read_tags) in zip(sentences, read):
        assert [(" ".join(words[a : b + 1]).replace(" ", ""), kind) for a, b, kind in entity_words(tags)] == [
            ("".join(read_words[a : b + 1]), kind) for a, b, kind in entity_words(read_tags)
        ]


def test_a_span_that_cannot_be_tags_leaves_its_row_out_named_by_kind_file_line_and_characters(tmp_path):
    text = "EU rejects German call to boycott British lamb ."
    rows = [
        {"text": text, "label": [[0, 2, "ORG"], [11, 17, "MISC"]]},
        {"text": text, "label": [[11, 15, "MISC"]]},  # "Germ"
        {"text": text, "label": [[0, 2, "ORG"], [0, 10, "MISC"]]},
        {"text": text, "label": [[34, 60, "MISC"]]},
        {"text": text, "label": [[2, 3, "ORG"]]},  # a space only
        {"text": text, "label": [[0, 2, " "]]},
        {"text": "Peter Blackburn", "label": []},
    ]
    file = tmp_path / "train.jsonl"
    lines = [json.dumps(row) for row in rows]
    file.write_text("\n".join([*lines[:3], '{"text": "BRUSSELS 1996-08-22", "label": [', *lines[3:]]) + "\n")
    data = DataConfig(dataset=str(file), max_train_samples=None)
    raw = read_source(resolve_dataset(data), data)
    assert raw.splits["train"]["tokens"] == [text.split(), ["Peter", "Blackburn"]]
    assert raw.splits["train"]["ner_tags"][0] == ["B-ORG", "O", "B-MISC", "O", "O", "O", "O", "O", "O"]
    assert left_out_lines(raw.annotations) == [
        "train.jsonl: 1 of 8 rows left out, a span cuts a word: line 2: characters 11-15 ('Germ')",
        "train.jsonl: 1 of 8 rows left out, a span overlaps another: line 3: characters 0-10 ('EU rejects')",
        "train.jsonl: 1 of 8 rows left out, not JSON: line 4: Expecting value",
        "train.jsonl: 1 of 8 rows left out, a span runs past the text: line 5: characters 34-60 of a text of 48",
        "train.jsonl: 1 of 8 rows left out, a span is empty: line 6: characters 2-3 (' ')",
        "train.jsonl: 1 of 8 rows left out, a span has an empty label: line 7: characters 0-2 ('EU')",
    ]
    strict = DataConfig(dataset=str(file), max_train_samples=None, strict=True)
    with pytest.raises(
        PipelineError, match=re.escape("train.jsonl: 1 of 8 rows left out, a span cuts a word: line 2") + ".*--strict"
    ):
        read_source(resolve_dataset(strict), strict)


def test_spans_keep_to_words_after_their_spaces_are_dropped_and_repeats_count_once():
    text = "Germany 's representative to the European Union"
    words, offsets, tags = tagged(text, (Span(0, 8, "LOC"), Span(33, 47, "ORG"), Span(33, 47, "ORG")))
    assert words == ["Germany", "'s", "representative", "to", "the", "European", "Union"]
    assert offsets[:2] == [[0, 7], [8, 10]]
    assert tags == ["B-LOC", "O", "O", "O", "O", "B-ORG", "I-ORG"]
    with pytest.raises(SpanProblem, match="a span overlaps another"):
        tagged(text, (Span(33, 47, "ORG"), Span(33, 47, "LOC")))
    assert words_with_offsets("U.S. 2-1 35,563 -- O'Neill's ...")[0] == [
        "U.S.",
        "2-1",
        "35,563",
        "--",
        "O'Neill's",
        "...",
    ]


def test_label_studio_reads_the_latest_annotation_that_was_not_cancelled_and_counts_tasks_with_several(
    sentences, tmp_path
):
    (words, tags), (other_words, other_tags) = sentences[3], sentences[4]
    task = export_row(1, words, tags, "label-studio")
    older = {**task["annotations"][0], "id": 7, "result": [], "created_at": "2026-10-01T09:00:00Z"}
    cancelled = {
        **task["annotations"][0],
        "id": 8,
        "result": [],
        "was_cancelled": True,
        "created_at": "2026-12-01T09:00:00Z",
    }
    task["annotations"] = [task["annotations"][0], older, cancelled]
    file = tmp_path / "train.json"
    file.write_text(json.dumps([task, export_row(2, other_words, other_tags, "label-studio")]))
    data = DataConfig(dataset=str(file), max_train_samples=None)
    raw = read_source(resolve_dataset(data), data)
    assert raw.splits["train"]["ner_tags"] == [tags, other_tags] and any(tag != "O" for tag in tags)
    assert raw.annotations["files"]["train"]["several_annotations"] == 1


def test_a_broken_json_line_of_word_rows_is_named_by_file_and_line(tmp_path):
    file = tmp_path / "train.jsonl"
    rows = [json.dumps({"tokens": ["EU", "rejects"], "ner_tags": ["B-ORG", "O"]})] * 2
    file.write_text("\n".join([*rows, '{"tokens": ["German", "call"], "ner_tags": ["B-MISC", "O"]', *rows]) + "\n")
    data = DataConfig(dataset=str(file))
    with pytest.raises(PipelineError, match=re.escape(f"{file} line 3: not a JSON object: Expecting")):
        read_source(resolve_dataset(data), data)


@pytest.mark.parametrize("shape", SHAPES)
def test_span_exports_are_prediction_input_whose_tags_can_be_scored(sentences, tmp_path, shape):
    file = write_export(tmp_path / ("input.json" if shape == "label-studio" else "input.jsonl"), sentences[:20], shape)
    rows = read_rows(resolve_input(str(file), "test", "auto"), ColumnsConfig(), "ner")
    assert rows.problems == []
    expected = [tags for words, tags in sentences[:20] if words_with_offsets(" ".join(words))[0] == words]
    found = [
        gold
        for words, gold in zip(rows.columns["tokens"], rows.columns["gold"])
        if words in [w for w, _ in sentences[:20]]
    ]
    assert found == expected and len(found) >= 15


def test_the_load_step_and_the_data_report_name_the_rows_left_out(sentences, tiny_model, tmp_path):
    folder = tmp_path / "annotated"
    folder.mkdir()
    train = write_export(folder / "train.jsonl", sentences[:40], "doccano")
    cut = {"text": "EU rejects German call", "label": [[11, 15, "MISC"]]}
    train.write_text(train.read_text() + json.dumps(cut) + "\n")
    write_export(folder / "test.jsonl", sentences[40:56], "doccano")
    store, model = ArtifactStore(root=tmp_path / "artifacts"), resolve_model(ModelConfig(model=str(tiny_model)))
    data = DataConfig(dataset=str(folder), max_train_samples=None)
    loaded = load.fn(resolve_dataset(data), data, "ner", store=store)
    summary = json.loads((Path(loaded.path) / LOAD_SUMMARY).read_text())
    assert summary["num_rows"]["train"] + summary["num_rows"]["validation"] == 40 and summary["num_rows"]["test"] == 16
    assert summary["annotations"]["shape"] == "doccano"
    line = "train.jsonl: 1 of 41 rows left out, a span cuts a word: line 41: characters 11-15 ('Germ')"
    report = json.loads(
        (Path(data_report.fn(loaded.path, model, 64, "ner", store=store).path) / DATA_REPORT).read_text()
    )
    assert report["problems"][0] == line and f"- {line}" in markdown(report)

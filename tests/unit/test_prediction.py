"""The predict flow's pure parts: reading inputs of every format into rows (problems by line), words and
their offsets, entities as spans, gold tags in another scheme, and the ONNX parity verdicts."""

import json

import pytest

from conftest import conll_sentences
from tasks.config.sections import ColumnsConfig, QuantizationConfig
from tasks.data.assets import embedded_conll2003_files
from tasks.errors import PipelineError
from tasks.steps.export import require_onnx_packages, verdicts
from tasks.steps.predict import entity_spans
from tasks.steps.read import looks_like_conll, read_rows, resolve_input, scorable, words_with_offsets
from tasks.storage.catalog import ONNX_MODEL, ONNX_QUANTIZED

LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]


@pytest.fixture(scope="module")
def news() -> list[list[list[str]]]:
    """The first 6 sentences of CoNLL-2003's test split, as (word, …, tag) columns per line."""
    return [
        [line.split() for line in block.splitlines()]
        for block in conll_sentences(embedded_conll2003_files()["test"], 6)
    ]


def test_words_and_offsets_of_plain_text():
    text = "Japan began the defence of their Asian Cup title with a lucky 2-1 win against Syria."
    words, offsets = words_with_offsets(text)
    assert words[-3:] == ["against", "Syria", "."] and "2-1" in words
    assert [text[start:end] for start, end in offsets] == words


def test_entities_are_spans_of_the_text_with_their_mean_score():
    text = "EU rejects German call to boycott British lamb ."
    words, offsets = words_with_offsets(text)
    tags = ["B-ORG", "O", "B-MISC", "O", "O", "O", "B-MISC", "I-MISC", "O"]
    scores = [0.9, 0.99, 0.8, 0.99, 0.99, 0.99, 0.6, 0.4, 0.99]
    assert entity_spans(text, tags, scores, offsets) == [
        {"entity_group": "ORG", "word": "EU", "start": 0, "end": 2, "score": 0.9},
        {"entity_group": "MISC", "word": "German", "start": 11, "end": 17, "score": 0.8},
        {"entity_group": "MISC", "word": "British lamb", "start": 34, "end": 46, "score": 0.5},
    ]
    # An I- tag after O or after another type opens an entity of its own.
    assert [e["word"] for e in entity_spans(text, ["I-ORG", "I-PER", *["O"] * 7], [1.0] * 9, offsets)] == [
        "EU",
        "rejects",
    ]


def test_a_txt_file_is_conll_when_its_lines_end_in_tags(news, tmp_path):
    conll = "\n\n".join("\n".join(" ".join(columns) for columns in sentence) for sentence in news)
    plain = "\n".join(" ".join(columns[0] for columns in sentence) for sentence in news)
    assert looks_like_conll(conll) and not looks_like_conll(plain)
    (tmp_path / "a.txt").write_text(conll)
    (tmp_path / "b.txt").write_text(plain)
    assert resolve_input(str(tmp_path / "a.txt"), "test", "auto").format == "conll"
    assert resolve_input(str(tmp_path / "b.txt"), "test", "auto").format == "text"
    assert resolve_input(str(tmp_path / "a.txt"), "test", "text").format == "text"
    with pytest.raises(PipelineError, match="input file not found"):
        resolve_input(str(tmp_path / "c.txt"), "test", "auto")


def test_json_lines_with_words_or_text_and_bad_lines_reported(news, tmp_path):
    lines = [
        json.dumps({"tokens": [c[0] for c in news[0]], "ner_tags": [c[-1] for c in news[0]]}),
        "{not json",
        json.dumps({"text": " ".join(c[0] for c in news[1])}),
        json.dumps({"title": "x"}),
        json.dumps({"tokens": [c[0] for c in news[2]], "ner_tags": ["O"]}),
    ]
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(lines) + "\n")
    rows = read_rows(resolve_input(str(path), "test", "auto"), ColumnsConfig(), "ner")
    assert rows.columns["line"] == [1, 3]
    assert rows.columns["tokens"][1] == [c[0] for c in news[1]] and rows.columns["gold"] == [
        [c[-1] for c in news[0]],
        None,
    ]
    assert [problem.split(":")[0] for problem in rows.problems] == ["line 2", "line 4", "line 5"]
    assert "no 'tokens' list of words" in rows.problems[1] and "words but tags" in rows.problems[2]


def test_classification_rows_from_tsv_pairs_and_plain_text(news, tmp_path):
    texts = [" ".join(c[0] for c in sentence) for sentence in news]
    tsv = tmp_path / "pairs.tsv"
    tsv.write_text(
        "sentence1\tsentence2\tlabel\n"
        + "".join(f"{a}\t{b}\tconsecutive\n" for a, b in zip(texts, texts[1:]))
        + "\t\tx\n"
    )
    rows = read_rows(resolve_input(str(tsv), "test", "auto"), ColumnsConfig(), "sequence-classification")
    assert rows.columns["text_pair"] == texts[1:] and rows.columns["gold"] == ["consecutive"] * 5
    assert rows.problems == ["line 7: empty text"]
    plain = tmp_path / "texts.txt"
    plain.write_text(f"{texts[0]}\n\n{texts[1]}\t{texts[2]}\n")
    rows = read_rows(resolve_input(str(plain), "test", "auto"), ColumnsConfig(), "sequence-classification")
    assert rows.columns["text"] == texts[:2] and rows.columns["text_pair"] == [None, texts[2]]
    assert rows.problems == ["line 2: empty"]
    with pytest.raises(PipelineError, match="is CoNLL text"):
        read_rows(
            resolve_input(str(embedded_conll2003_files()["test"]), "test", "auto"),
            ColumnsConfig(),
            "sequence-classification",
        )


def test_gold_tags_in_another_scheme_are_scored_in_iob2(news):
    from tasks.data.tag_schemes import from_iob2

    gold = [[c[-1] for c in sentence] for sentence in news]
    iobes = [from_iob2(tags, "IOBES") for tags in gold]
    assert iobes != gold
    columns, problem = scorable(iobes, list(range(1, 7)), LABELS, "ner")
    assert problem is None and columns["ner_tags"] == [[LABELS.index(tag) for tag in tags] for tags in gold]
    _, problem = scorable([["B-PER", "B-DATE"]], [12], LABELS, "ner")
    assert problem == "line 12: 'B-DATE' is not among the model's labels (" + ", ".join(LABELS) + ")"


def test_parity_verdicts_ship_only_what_agrees():
    both = QuantizationConfig(quantize="int8", max_quantized_drop=0.005)
    assert verdicts({"pytorch": 0.80, "onnx": 0.80, "int8": 0.797}, 1.0, both) == {
        "shipped": [ONNX_MODEL, ONNX_QUANTIZED],
        "not_shipped": {},
    }
    dropped = verdicts({"pytorch": 0.80, "onnx": 0.80, "int8": 0.79}, 1.0, both)
    assert (
        dropped["shipped"] == [ONNX_MODEL]
        and "more than max_quantized_drop 0.005" in dropped["not_shipped"][ONNX_QUANTIZED]
    )
    disagrees = verdicts({"pytorch": 0.80, "onnx": 0.80, "int8": 0.80}, 0.998, both)
    assert disagrees["shipped"] == [] and "99.80% of tokens" in disagrees["not_shipped"][ONNX_MODEL]
    assert "does not ship" in disagrees["not_shipped"][ONNX_QUANTIZED]
    off = verdicts({"pytorch": 0.80, "onnx": 0.7985}, 1.0, QuantizationConfig())
    assert off["shipped"] == [] and "by more than 0.001" in off["not_shipped"][ONNX_MODEL]


def test_a_missing_onnx_package_is_one_line_naming_the_extra(monkeypatch):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "onnxruntime" else find_spec(name))
    with pytest.raises(PipelineError, match=r"need onnxruntime: pip install '\.\[onnx\]'"):
        require_onnx_packages()

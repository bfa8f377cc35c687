"""Suspect labels (`tasks.steps.label_issues`): the pure ranking, the halves a model trains on, and each example's
file and line, on real CoNLL-2003 sentences."""

import json

import datasets
import pytest

from conftest import conll_sentences
from span_exports import write_export
from tasks.config.sections import ColumnsConfig, DataConfig
from tasks.data.assets import embedded_conll2003_files
from tasks.data.context import DOCUMENT
from tasks.data.sources import example_lines, resolve_dataset
from tasks.data.spans import words_with_offsets
from tasks.reports.label_ranking import classification_issues, confident_thresholds, contradiction, halves, ner_issues

LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG"]


def test_sentences_are_ranked_by_their_most_contradicted_entity_against_how_sure_of_each_type_the_models_usually_are():
    """Thresholds: PER 0.8 (row 0's), ORG 0.5 (rows 1 and 2), O 0.8 (the O words of rows 3 and 4). Row 2's ORG is
    scored as one entity on its two words' mean (PER 0.6 / 0.8 less ORG 0.3 / 0.5); row 3's second word, O in the
    data, is an ORG the models find (ORG 0.6 / 0.5 less O 0.4 / 0.8), though its O is no less probable than row
    2's PER."""
    given = [[1], [3], [3, 4], [0, 0], [0]]
    distributions = [
        [[0.2, 0.8, 0.0, 0.0, 0.0]],
        [[0.3, 0.0, 0.0, 0.7, 0.0]],
        [[0.1, 0.6, 0.0, 0.3, 0.0], [0.1, 0.0, 0.6, 0.0, 0.3]],
        [[1.0, 0.0, 0.0, 0.0, 0.0], [0.4, 0.0, 0.0, 0.6, 0.0]],
        [[1.0, 0.0, 0.0, 0.0, 0.0]],
    ]
    issues = ner_issues(given, distributions, LABELS)
    assert [(issue["row"], issue["score"]) for issue in issues] == [(3, 0.7), (2, 0.15)]
    assert issues[0]["given"] == ["O", "O"] and issues[0]["suggested"] == ["O", "B-ORG"]
    assert issues[1]["suggested"] == ["B-PER", "I-PER"]
    # A word cut off by truncation has no probabilities: it neither scores nor changes.
    assert ner_issues([[3, 0]], [[[], [0.1, 0.9, 0, 0, 0]]], LABELS)[0]["suggested"] == ["B-ORG", "B-PER"]


def test_thresholds_are_the_mean_probability_of_each_given_class_and_a_contradiction_is_measured_against_them():
    thresholds = confident_thresholds([0, 0, 1], [[0.9, 0.1, 0.0], [0.7, 0.3, 0.0], [0.4, 0.6, 0.0]])
    assert thresholds == pytest.approx([0.8, 0.6, 1.0])
    assert contradiction(0, [0.3, 0.7, 0.0], thresholds) == pytest.approx(0.7 / 0.6 - 0.3 / 0.8)  # B surer than usual
    assert contradiction(1, [0.1, 0.9, 0.0], thresholds) == pytest.approx(0.1 / 0.8 - 0.9 / 0.6)  # the given class is
    assert contradiction(0, [0.8, 0.2, 0.0], thresholds) == pytest.approx(0.2 / 0.6 - 1.0)


def test_texts_are_ranked_by_their_contradiction():
    """Thresholds: neg 0.9, pos (0.3 + 0.8 + 0.05) / 3."""
    issues = classification_issues([0, 1, 1, 1], [[0.9, 0.1], [0.7, 0.3], [0.2, 0.8], [0.95, 0.05]], ["neg", "pos"])
    pos = (0.3 + 0.8 + 0.05) / 3
    assert [(issue["row"], issue["given"], issue["suggested"], issue["score"]) for issue in issues] == [
        (3, "pos", "neg", round(0.95 / 0.9 - 0.05 / pos, 4)),
        (1, "pos", "neg", round(0.7 / 0.9 - 0.3 / pos, 4)),
    ]


def test_halves_keep_documents_whole_and_cover_every_row_once():
    rows = datasets.Dataset.from_dict({DOCUMENT: [0, 0, 1, 1, 1, 2, 3, 3]})
    first, second = halves(rows, seed=42)
    assert sorted(first + second) == list(range(8))
    documents = rows[DOCUMENT]
    assert not {documents[row] for row in first} & {documents[row] for row in second}
    assert halves(rows, seed=42) == (first, second)
    plain = halves(datasets.Dataset.from_dict({"tokens": [["a"]] * 7}), seed=0)
    assert sorted(map(len, plain)) == [3, 4]


def test_each_example_is_found_on_its_first_line_in_conll_json_and_span_files(tmp_path):
    blocks = conll_sentences(embedded_conll2003_files()["train"], 30)
    conll = tmp_path / "train.txt"
    conll.write_text("-DOCSTART- -X- -X- O\n\n" + "\n\n".join(blocks) + "\n")
    data = DataConfig(dataset=str(conll))
    file, lines = example_lines(resolve_dataset(data), ColumnsConfig(), "ner")
    text = conll.read_text().splitlines()
    sentences = [[line.split()[0] for line in block.splitlines()] for block in blocks]
    assert file == str(conll) and all(text[lines[tuple(words)] - 1].split()[0] == words[0] for words in sentences)
    assert lines[tuple(sentences[0])] == 3
    # Span exports: their words are the splitter's, each row one line (one item of Label Studio's list).
    tagged = [(words, ["O"] * len(words)) for words in sentences if words_with_offsets(" ".join(words))[0] == words]
    for name, shape in (("train.jsonl", "doccano"), ("train.json", "label-studio")):
        found = example_lines(
            resolve_dataset(DataConfig(dataset=str(write_export(tmp_path / name, tagged, shape)))),
            ColumnsConfig(),
            "ner",
        )[1]
        assert [found[tuple(words)] for words, _ in tagged] == list(range(1, len(tagged) + 1))
    words_file = tmp_path / "words" / "train.jsonl"
    words_file.parent.mkdir()
    words_file.write_text(
        "\n" + "".join(json.dumps({"tokens": words, "ner_tags": ["O"] * len(words)}) + "\n" for words in sentences)
    )
    found = example_lines(resolve_dataset(DataConfig(dataset=str(words_file))), ColumnsConfig(), "ner")[1]
    assert found[tuple(sentences[1])] == 3

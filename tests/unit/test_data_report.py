"""The data report: its pure parts on real CoNLL-2003 sentences, the step for both tasks, what the gate
reads from it, and a run whose test split was copied from train."""

import json
import math
from collections import Counter
from pathlib import Path

import datasets
import pytest

from conftest import conll_sentences, leaked_folder
from flows.gate import Published, data_check
from tasks.config.finetune import GateConfig
from tasks.config.sections import DataConfig, ModelConfig, TokenizationConfig
from tasks.data.sources import read_source, resolve_dataset
from tasks.pretrained import load_tokenizer, resolve_model
from tasks.profiles import profile_of
from tasks.profiles.ner.tokenization import continuation_labels, tokenize_words
from tasks.steps.data_report import (
    data_report,
    duplicates,
    example_keys,
    label_shift,
    labels_in_one_split,
    lengths,
    markdown,
    overlap,
    problems,
    report_of,
    split_report,
)
from tasks.steps.load import load, normalize
from tasks.storage.catalog import DATA_REPORT, DATA_REPORT_MARKDOWN, MANIFEST
from tasks.storage.step import ArtifactStore

NER = profile_of("ner").data_report
CLASSIFICATION = profile_of("sequence-classification").data_report


def loaded_splits(folder: Path, task: str = "ner") -> datasets.DatasetDict:
    data = DataConfig(dataset=str(folder), max_train_samples=None)
    source = resolve_dataset(data)
    return normalize(read_source(source, data).splits, source, data, task)[0]


@pytest.fixture(scope="module")
def conll(conll_sample) -> datasets.DatasetDict:
    """The sample's 48 / 16 / 16 real CoNLL-2003 sentences, loaded as the load step encodes them."""
    return loaded_splits(conll_sample)


@pytest.fixture(scope="module")
def tokenizer(tiny_model):
    return load_tokenizer(str(tiny_model))


def classification_folder(conll_sample: Path, target: Path) -> Path:
    """The sample's sentences as a classification task: each sentence's text, labelled with its first
    entity's type (or "none"); its test split is train's first 16."""
    target.mkdir()
    for split, file in (("train", "train.txt"), ("validation", "valid.txt"), ("test", "train.txt")):
        rows = []
        for block in conll_sentences(conll_sample / file, 16 if split == "test" else 48):
            fields = [line.split() for line in block.splitlines()]
            kinds = [tag[2:] for *_, tag in fields if tag != "O"]
            rows.append({"text": " ".join(field[0] for field in fields), "label": kinds[0] if kinds else "none"})
        (target / f"{split}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return target


def test_whitespace_is_normalised_and_case_kept(conll):
    sentence = conll["train"][0]["tokens"]  # EU rejects German call to boycott British lamb .
    spaced = (f"  {sentence[0]}\t " + "  ".join(sentence[1:]) + "\n",)
    [key, same, lower] = example_keys([(" ".join(sentence),), spaced, (" ".join(sentence).lower(),)])
    assert key == same == ("EU rejects German call to boycott British lamb .",)
    assert lower != key
    assert overlap([key], [same, lower]) == 1


def test_length_percentiles_are_lengths_sentences_have(conll):
    words = sorted(map(len, conll["train"]["tokens"]))
    figures = lengths(words)
    for p in (50, 90, 99):  # the smallest length at least p % of the sentences have or stay under
        assert figures[f"p{p}"] == words[math.ceil(p / 100 * len(words)) - 1]
    assert figures["max"] == words[-1] and figures["mean"] == round(sum(words) / len(words), 1)
    assert lengths(list(range(1, 101))) == {"p50": 50, "p90": 90, "p99": 99, "mean": 50.5, "max": 100}


def test_sub_words_are_counted_as_tokenize_align_makes_them(conll, tokenizer):
    rows = conll["train"]
    counted = NER.subword_lengths(rows, tokenizer)
    aligned = tokenize_words(rows, tokenizer, TokenizationConfig(max_length=512), continuation_labels(["O"]), True).rows
    assert counted == [len(ids) for ids in aligned["input_ids"]]
    figures = split_report(example_keys(NER.texts(rows)), NER.words(rows), counted, {}, max_length=24)
    assert figures["over_max_length"] == sum(count > 24 for count in counted) > 0
    assert figures["subwords"]["max"] == max(counted) > figures["words"]["max"] == max(map(len, rows["tokens"]))


def test_duplicates_and_blanks_within_a_split(conll):
    train = conll["train"]
    repeated = datasets.concatenate_datasets([train, train.select(range(3))])
    words = NER.words(repeated)
    words[5] = [" ", *words[5][1:]]  # a word that is whitespace only
    figures = split_report(example_keys(NER.texts(repeated)), words, [], {}, max_length=128)
    sentences = [" ".join(words) for words in train["tokens"]]
    repeats = sum(sentence in sentences[:i] for i, sentence in enumerate(sentences))
    assert repeats == duplicates(example_keys(NER.texts(train))) == 1  # "BEIJING 1996-08-22", twice
    assert figures["duplicates"] == repeats + 3 and figures["examples"] == len(train) + 3
    assert figures["blank_words"] == 1
    pairs = [(train[0]["tokens"][0], " "), (" ".join(train[1]["tokens"]), " ".join(train[2]["tokens"]))]
    assert split_report(example_keys(pairs), [], [], {}, 128)["blank_texts"] == 1


def test_entities_are_counted_by_type_from_the_iob_tags(conll):
    names = conll["train"].features["ner_tags"].feature.names
    for rows in conll.values():
        begins = Counter(names[tag][2:] for row in rows["ner_tags"] for tag in row if names[tag].startswith("B-"))
        counts = NER.label_counts(rows)
        assert set(counts) == {"LOC", "MISC", "ORG", "PER"}  # every type, found or not
        assert {kind: count for kind, count in counts.items() if count} == begins  # IOB2: one B- per entity


def test_labels_seen_in_one_split_are_named(conll):
    counts = {split: NER.label_counts(rows) for split, rows in conll.items()}
    assert labels_in_one_split(counts) == {
        kind: next(split for split in counts if counts[split][kind])
        for kind in counts["train"]
        if sum(bool(split_counts[kind]) for split_counts in counts.values()) == 1
    }
    without_loc = {split: {**found, "LOC": 0} for split, found in counts.items() if split != "train"}
    assert labels_in_one_split({"train": counts["train"], **without_loc})["LOC"] == "train"


def test_label_shift_is_the_total_variation_distance():
    assert label_shift({"PER": 0.5, "LOC": 0.5}, {"PER": 0.5, "LOC": 0.5}) == 0
    assert label_shift({"PER": 0.5, "LOC": 0.5}, {"PER": 1.0}) == 0.5
    assert label_shift({"PER": 0.6, "LOC": 0.4}, {"ORG": 1.0}) == 1  # no label in common
    assert label_shift({"PER": 0.7, "LOC": 0.3}, {"PER": 0.4, "LOC": 0.2, "ORG": 0.4}) == 0.4
    assert label_shift({"ORG": 1.0}, {"PER": 0.5, "ORG": 0.5}) == label_shift({"PER": 0.5, "ORG": 0.5}, {"ORG": 1.0})
    with pytest.raises(ValueError, match="a label distribution with no labels"):
        label_shift({}, {"PER": 1.0})


def test_a_test_split_copied_from_train_is_all_overlap(conll_sample, tmp_path, tokenizer):
    report = report_of(dict(loaded_splits(leaked_folder(conll_sample, tmp_path / "leaked"))), NER, tokenizer, 128)
    assert report["overlap"]["test"] == {"examples": 16, "share": 1.0}
    assert report["overlap"]["validation"]["examples"] == 0
    assert "sentences that also appear in train: test 16 of 16 (100.0 %)" in report["problems"]
    assert "- sentences that also appear in train: test 16 of 16 (100.0 %)" in markdown(report)


def test_the_report_of_the_sample_and_its_markdown(conll, tokenizer):
    report = report_of(dict(conll), NER, tokenizer, 128)
    assert {split: figures["examples"] for split, figures in report["splits"].items()} == {
        "train": 48,
        "validation": 16,
        "test": 16,
    }
    assert report["problems"] == problems(report)
    assert [figures["duplicates"] for figures in report["splits"].values()] == [1, 0, 0]
    assert not any(figures["over_max_length"] for figures in report["splits"].values())
    assert report["problems"] == ["sentences that repeat another of their split: train 1 of 48"]
    train = report["splits"]["train"]
    text = markdown(report)
    assert "| train | 48 | 1 | — | 0 | 0 | 0 |" in text
    assert f"| train | {train['words']['p50']} / {train['words']['p90']} / {train['words']['p99']} / " in text
    assert "- sentences that repeat another of their split: train 1 of 48" in text
    assert f"| PER | {train['labels']['PER']} | " in text
    longer = sum(count > 8 for count in NER.subword_lengths(conll["train"], tokenizer))
    assert 0 < longer < 48  # "Peter Blackburn" is not
    short = markdown(report_of(dict(conll), NER, tokenizer, 8))
    assert f"| train | 48 | 1 | — | {longer} | 0 | 0 |" in short


def test_the_step_writes_the_report_for_both_tasks(conll_sample, tiny_model, tmp_path):
    store, model = ArtifactStore(root=tmp_path / "artifacts"), resolve_model(ModelConfig(model=str(tiny_model)))
    for task, folder in (
        ("ner", conll_sample),
        ("sequence-classification", classification_folder(conll_sample, tmp_path / "cls")),
    ):
        data = DataConfig(dataset=str(folder), max_train_samples=None)
        loaded = load.fn(resolve_dataset(data), data, task, store=store)
        reported = data_report.fn(loaded.path, model, 64, task, store=store)
        assert Path(reported.path).parent == store.root / "data_report" and not reported.cached
        assert sorted(path.name for path in Path(reported.path).iterdir()) == sorted(
            [MANIFEST, DATA_REPORT, DATA_REPORT_MARKDOWN]
        )
        report = json.loads((Path(reported.path) / DATA_REPORT).read_text())
        assert markdown(report) == (Path(reported.path) / DATA_REPORT_MARKDOWN).read_text()
        assert report["splits"]["train"]["examples"] == 48
        if task == "sequence-classification":
            assert report["unit"] == "examples" and report["overlap"]["test"] == {"examples": 16, "share": 1.0}
            labels = [json.loads(line)["label"] for line in (folder / "train.jsonl").read_text().splitlines()]
            assert report["splits"]["train"]["labels"] == dict(sorted(Counter(labels).items()))


def test_pairs_are_the_same_example_only_when_both_texts_are(conll):
    first, second, third = (" ".join(words) for words in conll["train"]["tokens"][:3])
    rows = datasets.Dataset.from_dict({"text": [first, first, f" {first} "], "text_pair": [second, third, second]})
    keys = example_keys(CLASSIFICATION.texts(rows))
    assert duplicates(keys) == 1 and keys[0] == keys[2] != keys[1]
    assert CLASSIFICATION.words(rows)[0] == [*first.split(), *second.split()]


def test_the_gate_reads_the_overlap_of_the_evaluated_split_and_the_label_shift(conll, tokenizer):
    report = report_of(dict(conll), NER, tokenizer, 128)
    gate = GateConfig(max_overlap=0.01, max_label_shift=0.1)
    check = data_check(gate, report, "test", None)
    assert (check.split, check.unit, check.overlap, check.max_overlap) == ("test", "sentences", 0.0, 0.01)
    assert check.label_shift is None and check.leak() is None and check.shift() is None
    published = Published(stated=None, weights_sha256=None, model_dir=None, label_distribution={"PER": 1.0})
    shifted = data_check(gate, report, "test", published)
    per = report["splits"]["train"]["labels"]["PER"] / sum(report["splits"]["train"]["labels"].values())
    assert shifted.label_shift == pytest.approx(1 - per, abs=1e-3)
    assert shifted.shift().startswith("the training data's label distribution moved from the published model's by ")


def test_two_classes_whose_label_one_is_the_majority_are_noted_with_the_metric_to_use(
    conll_sample, tokenizer, tmp_path
):
    # Each real sentence labelled by whether it names anyone: "mentioned" sorts after "absent", so it is label 1,
    # and most news sentences name someone.
    folder = tmp_path / "mentions"
    folder.mkdir()
    for split, file in (("train", "train.txt"), ("validation", "valid.txt")):
        rows = [
            {
                "text": " ".join(line.split()[0] for line in block.splitlines()),
                "label": "mentioned" if any(line.split()[-1] != "O" for line in block.splitlines()) else "absent",
            }
            for block in conll_sentences(conll_sample / file, 48)
        ]
        (folder / f"{split}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    report = report_of(dict(loaded_splits(folder, "sequence-classification")), CLASSIFICATION, tokenizer, 128)
    train = report["splits"]["train"]["labels"]
    assert list(train) == ["absent", "mentioned"] and train["mentioned"] > train["absent"]
    assert report["notes"] == [
        f"label 1, 'mentioned', is the majority class of train ({train['mentioned']} of 48, "
        f"{100 * train['mentioned'] / 48:.1f} %): the default --metric f1 is its F1, which a model that never "
        "finds 'absent' can score well on; --metric f1:absent (or macro_f1) judges the rare class"
    ]
    assert f"Notes:\n\n- {report['notes'][0]}" in markdown(report)
    assert report_of(dict(loaded_splits(conll_sample)), NER, tokenizer, 128)["notes"] == []

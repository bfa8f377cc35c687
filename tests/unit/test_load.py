import json
import re

import pytest

from tasks.config.sections import DataConfig
from tasks.data.sources import read_source, resolve_dataset
from tasks.errors import PipelineError
from tasks.profiles.ner.load import CONLL2003_LABELS, derive_labels
from tasks.steps.load import normalize, select_samples


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def load(dataset: str, **options):
    data = DataConfig(dataset=dataset, max_train_samples=None, **options)
    source = resolve_dataset(data)
    return normalize(read_source(source, data).splits, source, data, "ner")[:2]  # the splits and labels


def test_derived_label_order_is_o_then_types_alphabetically():
    tags = [["B-PER", "I-PER", "O"], ["B-LOC", "S-X", "I-LOC"]]
    assert derive_labels(tags) == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER", "S-X"]


def test_embedded_conll2003_has_fixed_labels_and_full_splits():
    dataset, labels = load("embedded:conll2003")
    assert labels == CONLL2003_LABELS
    assert {split: len(rows) for split, rows in dataset.items()} == {"train": 14041, "validation": 3250, "test": 3453}
    assert dataset["train"][0]["tokens"][:2] == ["EU", "rejects"]
    assert dataset["train"][0]["ner_tags"][:3] == [3, 0, 7]  # B-ORG O B-MISC


def test_local_conll_folder_drops_docstart(conll_sample):
    dataset, labels = load(str(conll_sample))
    assert {split: len(rows) for split, rows in dataset.items()} == {"train": 48, "validation": 16, "test": 16}
    assert all(row["tokens"] != ["-DOCSTART-"] for row in dataset["train"])
    assert labels[0] == "O" and set(labels) <= set(CONLL2003_LABELS)


def test_single_jsonl_file_gets_a_seeded_validation_split(tmp_path):
    rows = [{"words": ["Paris", str(i)], "tags": ["B-LOC", "O"]} for i in range(20)]
    path = write_jsonl(tmp_path / "ner.jsonl", rows)
    dataset, labels = load(str(path), tokens_column="words", tags_column="tags")
    assert (len(dataset["train"]), len(dataset["validation"])) == (18, 2)
    assert labels == ["O", "B-LOC", "I-LOC"]
    again, _ = load(str(path), tokens_column="words", tags_column="tags")
    assert again["validation"]["tokens"][:] == dataset["validation"]["tokens"][:]


def test_csv_and_parquet_with_string_lists(tmp_path):
    import pandas as pd

    frame = pd.DataFrame({"tokens": [["Ann", "runs"]] * 4, "ner_tags": [["B-PER", "O"]] * 4})
    (tmp_path / "pq").mkdir()
    frame.to_parquet(tmp_path / "pq" / "train.parquet")
    frame.to_parquet(tmp_path / "pq" / "validation.parquet")
    dataset, labels = load(str(tmp_path / "pq"))
    assert dataset["validation"][0] == {"tokens": ["Ann", "runs"], "ner_tags": [1, 0]}


def test_slices_are_seeded_and_deterministic(conll_sample):
    dataset, _ = load(str(conll_sample))
    data = DataConfig(dataset=str(conll_sample), max_train_samples=10, max_eval_samples=5, seed=3)
    first, second = select_samples(dataset, data), select_samples(dataset, data)
    assert first["train"]["tokens"][:] == second["train"]["tokens"][:]
    assert len(first["train"]) == 10 and len(first["validation"]) == 5
    assert first["validation"]["tokens"][:] == dataset["validation"]["tokens"][:5]
    other = select_samples(dataset, data.model_copy(update={"seed": 4}))
    assert other["train"]["tokens"][:] != first["train"]["tokens"][:]


def test_missing_file_is_named():
    with pytest.raises(PipelineError, match="dataset file not found: data/missing.txt"):
        resolve_dataset(DataConfig(dataset="data/missing.txt"))


def test_missing_column_names_the_columns_found(tmp_path):
    path = write_jsonl(tmp_path / "train.jsonl", [{"words": ["a"], "ner_tags": ["O"]}])
    with pytest.raises(
        PipelineError, match="column 'tokens' not found in split 'train'; columns found: words, ner_tags"
    ):
        load(str(path))


def test_tokens_and_tags_of_different_lengths(tmp_path):
    rows = [{"tokens": ["a", "b"], "ner_tags": ["O", "O"]}, {"tokens": ["a", "b", "c"], "ner_tags": ["O", "O"]}]
    path = write_jsonl(tmp_path / "train.jsonl", rows)
    with pytest.raises(PipelineError, match="row 1: 3 tokens but 2 tags in 'ner_tags'"):
        load(str(path))


def test_empty_split_is_named(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", [{"tokens": ["a"], "ner_tags": ["O"]}])
    (tmp_path / "validation.jsonl").write_text("\n")
    with pytest.raises(PipelineError, match="split 'validation' is empty"):
        load(str(tmp_path))


def test_tag_not_in_label_list(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", [{"tokens": ["Ann"], "ner_tags": ["B-PER"]}])
    write_jsonl(tmp_path / "validation.jsonl", [{"tokens": ["Ann", "Paris"], "ner_tags": ["B-PER", "B-CITY"]}])
    with pytest.raises(
        PipelineError, match=r"split 'validation' row 0: tag 'B-CITY' is not in the label list \(O, B-PER, I-PER\)"
    ):
        load(str(tmp_path))


def test_unknown_tag_in_embedded_label_list(tmp_path, conll_sample):
    text = (conll_sample / "train.txt").read_text().replace("B-PER", "B-PERSON", 1)
    (tmp_path / "train.txt").write_text(text)
    data = DataConfig(dataset=str(tmp_path / "train.txt"))
    source = resolve_dataset(data).model_copy(update={"kind": "embedded"})
    with pytest.raises(PipelineError, match="tag 'B-PERSON' is not in the label list"):
        normalize(read_source(source, data).splits, source, data, "ner")


def test_classlabel_ids_keep_their_names_and_order(tmp_path):
    import datasets

    names = ["O", "B-ORG", "I-ORG", "B-PER", "I-PER"]
    features = datasets.Features(
        {
            "tokens": datasets.Sequence(datasets.Value("string")),
            "ner_tags": datasets.Sequence(datasets.ClassLabel(names=names)),
        }
    )
    rows = datasets.Dataset.from_dict({"tokens": [["Ann", "at", "ACME"]], "ner_tags": [[3, 0, 1]]}, features=features)
    (tmp_path / "d").mkdir()
    for split in ("train", "validation"):
        rows.to_parquet(tmp_path / "d" / f"{split}.parquet")
    dataset, labels = load(str(tmp_path / "d"))
    assert labels == names
    assert dataset["train"][0]["ner_tags"] == [3, 0, 1]


def test_utf8_byte_order_mark_is_not_part_of_the_first_word(tmp_path):
    (tmp_path / "train.txt").write_bytes(b"\xef\xbb\xbfAnn B-PER\nlives O\n\nBob B-PER\n")
    dataset, _ = load(str(tmp_path / "train.txt"))
    assert sorted(row["tokens"][0] for split in dataset.values() for row in split) == ["Ann", "Bob"]


LATIN_1_CONLL = "Ann B-PER\nM\u00fcller B-PER\n\nParis B-LOC\n".encode("latin-1")


def test_latin_1_conll_reads_with_its_encoding(tmp_path):
    (tmp_path / "train.txt").write_bytes(LATIN_1_CONLL)
    (tmp_path / "validation.txt").write_bytes(LATIN_1_CONLL)
    dataset, labels = load(str(tmp_path), encoding="latin-1")
    assert dataset["validation"]["tokens"][:] == [["Ann", "M\u00fcller"], ["Paris"]]
    assert labels == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]


def test_undecodable_byte_names_file_line_and_byte(tmp_path):
    (tmp_path / "train.txt").write_bytes(LATIN_1_CONLL)
    message = (
        f"{tmp_path / 'train.txt'} line 2: byte 0xfc is not valid UTF-8; save the file as UTF-8 or pass --encoding"
    )
    with pytest.raises(PipelineError, match=re.escape(message)):
        load(str(tmp_path / "train.txt"))
    with pytest.raises(PipelineError, match="line 2: byte 0xfc is not valid ascii"):
        load(str(tmp_path / "train.txt"), encoding="ascii")


def read(dataset: str, **options):
    data = DataConfig(dataset=dataset, **options)
    return read_source(resolve_dataset(data), data).splits


def test_json_lines_and_csv_take_the_encoding_too(tmp_path):
    rows = [{"tokens": ["Ann"], "ner_tags": ["B-PER"]}, {"tokens": ["M\u00fcller"], "ner_tags": ["B-PER"]}]
    jsonl = tmp_path / "train.jsonl"
    jsonl.write_bytes("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("latin-1"))
    with pytest.raises(PipelineError, match=re.escape(f"{jsonl} line 2: byte 0xfc is not valid UTF-8")):
        read(str(jsonl))
    assert read(str(jsonl), encoding="latin-1")["train"]["tokens"][:] == [["Ann"], ["M\u00fcller"]]
    csv = tmp_path / "train.csv"
    csv.write_bytes("text,label\nfine,pos\nM\u00fcller sings \u2026,pos\n".encode("cp1252"))
    with pytest.raises(PipelineError, match=re.escape(f"{csv} line 3: byte 0xfc is not valid UTF-8")):
        read(str(csv))
    assert read(str(csv), encoding="cp1252")["train"]["text"][:] == ["fine", "M\u00fcller sings \u2026"]


def test_mixed_column_counts_name_the_first_line_that_differs(tmp_path):
    (tmp_path / "train.txt").write_text("Ann NNP B-PER\n")
    (tmp_path / "test.txt").write_text("-DOCSTART- -X- -X- O\n\nHe PRP B-NP O\nsaw VBD B-VP O\n\nAnn NNP B-PER\n")
    message = f"{tmp_path / 'test.txt'} line 6: 3 columns, but line 3 has 4; every line of a CoNLL file needs the same"
    with pytest.raises(PipelineError, match=re.escape(message)):
        load(str(tmp_path))


def test_one_column_conll_is_named(tmp_path):
    (tmp_path / "train.txt").write_text("Ann\nlives\n")
    with pytest.raises(PipelineError, match="expected at least two columns per line \\(word and tag\\), found one"):
        load(str(tmp_path / "train.txt"))

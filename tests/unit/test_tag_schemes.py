"""Tag schemes: real CoNLL-2003 tags rewritten in each scheme are found, converted to IOB2 as they were,
and written back; tags no scheme explains are refused with the file and line."""

import re
from itertools import pairwise

import pytest

from conftest import conll_sentences
from tasks.config.sections import DataConfig
from tasks.data.sources import read_source, resolve_dataset
from tasks.data.tag_schemes import BadTag, detect_scheme, from_iob2, iob2_labels, to_iob2
from tasks.errors import PipelineError
from tasks.steps.load import normalize

SCHEMES = ["IOB2", "IOB1", "IOBES", "BILOU", "IO"]


def sample_tags(conll_sample) -> list[list[str]]:
    return [
        [line.split()[-1] for line in block.splitlines()] for block in conll_sentences(conll_sample / "train.txt", 48)
    ]


def rewrite(folder, target, scheme: str):
    """The sample's CoNLL files with their tags in ``scheme``."""
    target.mkdir()
    for file in folder.iterdir():
        blocks = [block.splitlines() for block in file.read_text().split("\n\n") if block.strip()]
        rewritten = []
        for lines in blocks:
            tags = from_iob2([line.split()[-1] for line in lines], scheme)
            rewritten.append("\n".join(" ".join([*line.split()[:-1], tag]) for line, tag in zip(lines, tags)))
        (target / file.name).write_text("\n\n".join(rewritten) + "\n")
    return target


def load(folder):
    data = DataConfig(dataset=str(folder), max_train_samples=None)
    source = resolve_dataset(data)
    return normalize(read_source(source, data).splits, source, data, "ner")


def tag_names(rows, label_list: list[str]) -> list[list[str]]:
    return [[label_list[i] for i in row] for row in rows["ner_tags"]]


def adjacent_same_type(tags: list[str]) -> bool:
    return any(tag.startswith("B-") and previous[2:] == tag[2:] for previous, tag in pairwise(tags))


def assert_same_entities(found: list[list[str]], iob2: list[list[str]], scheme: str) -> None:
    """``found`` is ``iob2``; for IO, in every sentence without neighbouring entities of one type, which IO
    cannot tell apart from one entity."""
    if scheme != "IO":
        assert found == iob2
        return
    kept = [index for index, tags in enumerate(iob2) if not adjacent_same_type(tags)]
    assert kept
    assert [found[index] for index in kept] == [iob2[index] for index in kept]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_real_tags_in_each_scheme_are_found_and_convert_back_to_the_same_iob2(conll_sample, scheme):
    iob2 = sample_tags(conll_sample)
    rewritten = [from_iob2(tags, scheme) for tags in iob2]
    assert detect_scheme(rewritten) == scheme
    converted = [to_iob2(tags, scheme, row) for row, tags in enumerate(rewritten)]
    assert_same_entities(converted, iob2, scheme)
    assert [from_iob2(tags, scheme) for tags in converted] == rewritten


def test_schemes_differ_where_they_should():
    iob2 = ["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC", "O", "B-ORG"]
    assert from_iob2(iob2, "IOB1") == ["I-PER", "I-PER", "O", "I-LOC", "B-LOC", "I-LOC", "O", "I-ORG"]
    assert from_iob2(iob2, "IOBES") == ["B-PER", "E-PER", "O", "S-LOC", "B-LOC", "E-LOC", "O", "S-ORG"]
    assert from_iob2(iob2, "BILOU") == ["B-PER", "L-PER", "O", "U-LOC", "B-LOC", "L-LOC", "O", "U-ORG"]
    assert from_iob2(iob2, "IO") == ["PER", "PER", "O", "LOC", "LOC", "LOC", "O", "ORG"]
    assert to_iob2(from_iob2(iob2, "IO"), "IO") == ["B-PER", "I-PER", "O", "B-LOC", "I-LOC", "I-LOC", "O", "B-ORG"]
    # A predicted I- that starts an entity starts it, as seqeval reads it.
    assert from_iob2(["O", "I-PER", "I-PER", "I-LOC"], "IOBES") == ["O", "B-PER", "E-PER", "S-LOC"]
    assert iob2_labels(["O", "S-PER", "B-PER", "I-PER", "E-PER", "LOC"]) == ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


@pytest.mark.parametrize(
    "tags, reason",
    [
        (["B-PER", "E-LOC"], "E-LOC cannot stand inside a PER entity in IOBES"),
        (["B-PER", "O"], "O cannot stand inside a PER entity in IOBES"),
        (["O", "E-PER"], "E-PER cannot stand outside an entity in IOBES"),
        (["S-PER", "L-PER"], "L- is not a prefix of IOBES"),
        (["B-PER", "I-PER"], "the sentence ends inside a PER entity, which IOBES closes with E-"),
        (["S-PER", "PER"], "a bare type"),
    ],
)
def test_tags_that_iobes_does_not_explain_are_refused(tags, reason):
    with pytest.raises(BadTag, match=re.escape(reason)):
        to_iob2(tags, "IOBES")


def test_forms_of_two_schemes_in_one_data_set_are_refused():
    with pytest.raises(BadTag, match="bare type beside"):
        detect_scheme([["B-PER", "I-PER"], ["LOC"]])
    with pytest.raises(BadTag, match=r"L-/U- \(BILOU\) tags beside E-/S- \(IOBES\)"):
        detect_scheme([["S-PER"], ["B-LOC", "L-LOC"]])


@pytest.mark.parametrize("scheme", ["IOBES", "IO", "IOB1"])
def test_a_data_set_in_another_scheme_loads_as_its_iob2_version(conll_sample, tmp_path, scheme):
    dataset, labels, facts = load(conll_sample)
    other, other_labels, other_facts = load(rewrite(conll_sample, tmp_path / scheme, scheme))
    assert (facts, other_facts) == ({"tag_scheme": "IOB2"}, {"tag_scheme": scheme})
    assert set(other_labels) == set(labels)  # IOB2 labels, not the scheme's
    for split in dataset:
        expected = tag_names(dataset[split], labels)
        assert_same_entities(tag_names(other[split], other_labels), expected, scheme)


def test_a_tag_no_scheme_explains_is_named_with_its_file_and_line(conll_sample, tmp_path):
    folder = rewrite(conll_sample, tmp_path / "iobes", "IOBES")
    lines = (folder / "valid.txt").read_text().splitlines()
    number = next(index for index, line in enumerate(lines) if line.endswith((" E-PER", " E-ORG")))
    word, *middle, tag = lines[number].split()
    lines[number] = " ".join([word, *middle, "E-LOC" if tag != "E-LOC" else "E-PER"])
    (folder / "valid.txt").write_text("\n".join(lines) + "\n")
    with pytest.raises(
        PipelineError, match=rf"valid.txt line {number + 1}: tag 'E-(LOC|PER)': E-\w+ cannot stand inside"
    ):
        load(folder)

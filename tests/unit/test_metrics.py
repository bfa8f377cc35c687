import subprocess
from pathlib import Path

import pytest

from conftest import conll_sentences
from tasks.data.assets import embedded_conll2003_files
from tasks.profiles.ner.evaluation import conll_lines, word_predictions
from tasks.scores.metrics import partial_match_scores, reported_scores, seqeval_scores, to_tag_sequences

LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


@pytest.fixture(scope="module")
def news() -> list[list[str]]:
    """The gold tags of CoNLL-2003's first 4 test sentences: "SOCCER - JAPAN GET LUCKY WIN , CHINA IN SURPRISE
    DEFEAT .", "Nadim Ladki", "AL-AIN , United Arab Emirates 1996-12-06" and "Japan began the defence of their
    Asian Cup title with a lucky 2-1 win against Syria in a Group C championship match on Friday ."."""
    blocks = conll_sentences(embedded_conll2003_files()["test"], 4)
    return [[line.split()[-1] for line in block.splitlines()] for block in blocks]


def changed(tags: list[str], changes: dict[int, str]) -> list[str]:
    """``tags`` with the tag at each position of ``changes`` replaced."""
    return [changes.get(position, tag) for position, tag in enumerate(tags)]


def test_ignored_positions_are_dropped():
    predictions = [[4, 1, 2, 0, 3, 0]]
    label_ids = [[-100, 1, -100, 0, 3, -100]]
    gold, predicted = to_tag_sequences(predictions, label_ids, LABELS)
    assert gold == [["B-PER", "O", "B-LOC"]]
    assert predicted == [["B-PER", "O", "B-LOC"]]


def test_scores_match_hand_computation():
    # Gold entities: PER(0-1), LOC(3), PER(5). Predicted: PER(0-1) correct, LOC(3) as PER wrong, PER(5) missed.
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-PER"]]
    predicted = [["B-PER", "I-PER", "O", "B-PER"], ["O", "O"]]
    scores = seqeval_scores(gold, predicted)
    assert scores["precision"] == pytest.approx(1 / 2)
    assert scores["recall"] == pytest.approx(1 / 3)
    assert scores["f1"] == pytest.approx(2 * (1 / 2) * (1 / 3) / (1 / 2 + 1 / 3))
    assert scores["accuracy"] == pytest.approx(4 / 6)
    names = ("precision", "recall", "f1", "strict_precision", "strict_recall", "strict_f1")
    assert scores["per_type"]["PER"] == {**dict.fromkeys(names, 0.5), "support": 2}
    assert scores["per_type"]["LOC"] == {**dict.fromkeys(names, 0.0), "support": 1}


def test_strict_iob2_takes_no_entity_that_starts_with_i(news):
    gold = news[:3]
    assert gold[1:] == [["B-PER", "I-PER"], ["B-LOC", "O", "B-LOC", "I-LOC", "I-LOC", "O"]]
    # SOCCER starts a MISC with I-, and so do Nadim Ladki (PER) and AL-AIN (LOC); JAPAN, CHINA and United Arab
    # Emirates start with B-.
    predicted = [changed(gold[0], {0: "I-MISC"}), ["I-PER", "I-PER"], changed(gold[2], {0: "I-LOC"})]
    scores = seqeval_scores(gold, predicted)
    # conlleval reads an I- after O as a start: the 5 gold entities are found, and SOCCER is a sixth, spurious.
    assert (scores["precision"], scores["recall"], scores["f1"]) == (pytest.approx(5 / 6), 1.0, pytest.approx(10 / 11))
    # Strict IOB2 finds JAPAN, CHINA and United Arab Emirates only, all right.
    assert (scores["strict_precision"], scores["strict_recall"], scores["strict_f1"]) == (1.0, 0.6, pytest.approx(0.75))
    per_type = scores["per_type"]
    assert (per_type["PER"]["f1"], per_type["PER"]["strict_f1"]) == (
        1.0,
        pytest.approx(2 / 3),
    )  # CHINA, not Nadim Ladki
    assert (per_type["LOC"]["f1"], per_type["LOC"]["strict_recall"], per_type["LOC"]["strict_f1"]) == (1.0, 2 / 3, 0.8)
    # A type strict rules find no entity of keeps its row, at zero.
    names = ("precision", "recall", "f1", "strict_precision", "strict_recall", "strict_f1")
    assert per_type["MISC"] == {**dict.fromkeys(names, 0.0), "support": 0}
    # SemEval's strict match reads entities as conlleval does.
    assert partial_match_scores(gold, predicted)["overall"]["strict"]["f1"] == pytest.approx(scores["f1"])


def test_semeval_matches_count_type_and_boundary_errors_apart(news):
    gold = [news[1], news[3]]  # Nadim Ladki (PER); Japan (LOC), Asian Cup (MISC), Syria (LOC)
    assert [(position, tag) for position, tag in enumerate(gold[1]) if tag != "O"] == [
        (0, "B-LOC"),
        (6, "B-MISC"),
        (7, "I-MISC"),
        (15, "B-LOC"),
    ]
    # Nadim Ladki missed; Japan an ORG (a type error); "Asian Cup title" (a boundary error); Syria right; "Group C"
    # a MISC (spurious).
    predicted = [["O", "O"], changed(gold[1], {0: "B-ORG", 8: "I-MISC", 18: "B-MISC", 19: "I-MISC"})]
    found = partial_match_scores(gold, predicted)

    def counts(row: dict) -> tuple[int, ...]:
        return row["correct"], row["incorrect"], row["partial"], row["missed"], row["spurious"]

    overall = found["overall"]
    assert {kind: counts(row) for kind, row in overall.items()} == {
        "strict": (1, 2, 0, 1, 1),  # Syria
        "exact": (2, 1, 0, 1, 1),  # Syria, and Japan whatever its type
        "partial": (2, 0, 1, 1, 1),  # Syria and Japan; Asian Cup half
        "type": (2, 1, 0, 1, 1),  # Syria, and Asian Cup: it overlaps a MISC
    }
    assert {kind: row["f1"] for kind, row in overall.items()} == {
        "strict": 0.25,
        "exact": 0.5,
        "partial": pytest.approx(2.5 / 4),
        "type": 0.5,
    }
    assert overall["strict"]["f1"] == pytest.approx(seqeval_scores(gold, predicted)["f1"])
    # Per type, only that type's entities meet: Japan is a spurious ORG and a missed LOC.
    per_type = found["per_type"]
    assert sorted(per_type) == ["LOC", "MISC", "ORG", "PER"]
    assert counts(per_type["ORG"]["exact"]) == (0, 0, 0, 0, 1) and counts(per_type["LOC"]["exact"]) == (1, 0, 0, 1, 0)
    assert counts(per_type["MISC"]["partial"]) == (0, 0, 1, 0, 1)
    assert per_type["MISC"]["partial"]["f1"] == pytest.approx(1 / 3)  # precision 0.5 / 2, recall 0.5 / 1


def test_tables_and_trackers_report_strict_and_partial_f1_of_entities_only(news):
    names = ("precision", "recall", "f1", "accuracy")
    gold, predicted = news[:3], [changed(news[0], {0: "I-MISC"}), ["I-PER", "I-PER"], changed(news[2], {0: "I-LOC"})]
    scores = {**seqeval_scores(gold, predicted), "partial_match": partial_match_scores(gold, predicted)}
    reported = reported_scores(scores, names)
    assert list(reported) == [*names, "strict_f1", "partial_f1"]
    assert reported["partial_f1"] == scores["partial_match"]["overall"]["partial"]["f1"]
    # Validation while training, and classification, have no SemEval scores.
    assert list(reported_scores(seqeval_scores(gold, predicted), names)) == list(names)


def test_word_predictions_take_first_subword_and_fill_truncated_words():
    word_ids = [None, 0, 0, 1, None]
    assert word_predictions(word_ids, [9, 1, 2, 3, 9], num_words=3, outside=0) == [1, 3, 0]


def test_predictions_file_scores_the_same_with_conlleval(tmp_path):
    """The predictions file is what the standard conlleval script reads, and it agrees with seqeval."""
    from tasks.data.assets import embedded_conlleval

    sentences = [["Peter", "Blackburn", "visits", "Paris"], ["EU", "rejects", "German", "call"]]
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O", "B-MISC", "O"]]
    predicted = [["B-PER", "I-PER", "O", "B-PER"], ["B-ORG", "O", "O", "O"]]
    predictions = tmp_path / "test.txt"
    predictions.write_text("\n".join(conll_lines(sentences, gold, predicted)))
    report = subprocess.run(
        ["perl", str(embedded_conlleval())], stdin=predictions.open(), capture_output=True, text=True, check=True
    ).stdout
    f1_line = next(line for line in report.splitlines() if line.startswith("accuracy:"))
    conlleval_f1 = float(f1_line.rsplit("FB1:", 1)[1])
    assert conlleval_f1 == pytest.approx(100 * seqeval_scores(gold, predicted)["f1"], abs=0.01)
    assert Path(predictions).read_text().startswith("Peter B-PER B-PER\n")


def test_binary_scores_use_the_positive_class():
    from tasks.scores.metrics import classification_scores

    gold = [1, 1, 1, 0, 0, 0]
    predicted = [1, 1, 0, 1, 0, 0]
    scores = classification_scores(gold, predicted, ["no", "yes"])
    assert scores["accuracy"] == pytest.approx(4 / 6)
    assert scores["f1"] == pytest.approx(2 / 3)  # precision 2/3, recall 2/3 for "yes"
    assert scores["macro_f1"] == pytest.approx(2 / 3)
    assert scores["confusion_matrix"]["rows_gold_columns_predicted"] == [[2, 1], [1, 2]]
    assert scores["per_class"]["yes"]["support"] == 3


def test_multiclass_f1_is_macro():
    from tasks.scores.metrics import classification_scores

    gold = [0, 0, 1, 2]
    predicted = [0, 1, 1, 1]
    scores = classification_scores(gold, predicted, ["a", "b", "c"])
    f1_a, f1_b, f1_c = 2 * 1 * 0.5 / 1.5, 2 * (1 / 3) * 1 / (4 / 3), 0.0
    assert scores["f1"] == scores["macro_f1"] == pytest.approx((f1_a + f1_b + f1_c) / 3)
    assert scores["accuracy"] == pytest.approx(0.5)
    assert scores["per_class"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}

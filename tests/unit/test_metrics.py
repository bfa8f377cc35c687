import subprocess
from pathlib import Path

import pytest

from tasks.metrics import seqeval_scores, to_tag_sequences
from tasks.profiles.ner.evaluation import conll_lines, word_predictions

LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


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
    assert scores["per_type"]["PER"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert scores["per_type"]["LOC"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}


def test_word_predictions_take_first_subword_and_fill_truncated_words():
    word_ids = [None, 0, 0, 1, None]
    assert word_predictions(word_ids, [9, 1, 2, 3, 9], num_words=3, outside=0) == [1, 3, 0]


def test_predictions_file_scores_the_same_with_conlleval(tmp_path):
    """The predictions file is what the standard conlleval script reads, and it agrees with seqeval."""
    from tasks.assets import embedded_conlleval

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
    from tasks.metrics import classification_scores

    gold = [1, 1, 1, 0, 0, 0]
    predicted = [1, 1, 0, 1, 0, 0]
    scores = classification_scores(gold, predicted, ["no", "yes"])
    assert scores["accuracy"] == pytest.approx(4 / 6)
    assert scores["f1"] == pytest.approx(2 / 3)  # precision 2/3, recall 2/3 for "yes"
    assert scores["macro_f1"] == pytest.approx(2 / 3)
    assert scores["confusion_matrix"]["rows_gold_columns_predicted"] == [[2, 1], [1, 2]]
    assert scores["per_class"]["yes"]["support"] == 3


def test_multiclass_f1_is_macro():
    from tasks.metrics import classification_scores

    gold = [0, 0, 1, 2]
    predicted = [0, 1, 1, 1]
    scores = classification_scores(gold, predicted, ["a", "b", "c"])
    f1_a, f1_b, f1_c = 2 * 1 * 0.5 / 1.5, 2 * (1 / 3) * 1 / (4 / 3), 0.0
    assert scores["f1"] == scores["macro_f1"] == pytest.approx((f1_a + f1_b + f1_c) / 3)
    assert scores["accuracy"] == pytest.approx(0.5)
    assert scores["per_class"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}

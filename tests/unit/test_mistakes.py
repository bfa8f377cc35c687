"""The mistakes of a scored split (`tasks.reports.mistakes`), on a real CoNLL-2003 sentence whose tags are changed one
way at a time, and on texts with their classes."""

import pytest

from tasks.reports.mistakes import (
    MISSED,
    SPURIOUS,
    WRONG_BOUNDARY,
    WRONG_TYPE,
    classification_mistakes,
    counts,
    describe,
    ner_mistakes,
    table_rows,
)

# CoNLL-2003 train, sentence 2 of the first document.
WORDS = "Peter Blackburn of the European Commission said on Thursday".split()
GOLD = ["B-PER", "I-PER", "O", "O", "B-ORG", "I-ORG", "O", "O", "O"]


def changed(**tags: str) -> list[str]:
    predicted = list(GOLD)
    for index, tag in tags.items():
        predicted[int(index[1:])] = tag
    return predicted


@pytest.mark.parametrize(
    ("predicted", "kind", "gold_text", "predicted_text"),
    [
        (changed(w0="O", w1="O"), MISSED, "Peter Blackburn", None),
        (changed(w8="B-MISC"), SPURIOUS, None, "Thursday"),
        (changed(w4="B-MISC", w5="I-MISC"), WRONG_TYPE, "European Commission", "European Commission"),
        (changed(w3="B-ORG", w4="I-ORG"), WRONG_BOUNDARY, "European Commission", "the European Commission"),
    ],
)
def test_each_kind_of_error_names_the_gold_and_predicted_entities(predicted, kind, gold_text, predicted_text):
    [mistake] = ner_mistakes([WORDS], [GOLD], [predicted], [[0.9] * len(WORDS)])
    [error] = mistake["errors"]
    assert error["kind"] == kind
    assert error.get("gold", {}).get("text") == gold_text and error.get("predicted", {}).get("text") == predicted_text
    assert mistake["gold"][0] == {"type": "PER", "words": [0, 2], "text": "Peter Blackburn"}


def test_right_sentences_are_left_out_and_the_most_confident_mistake_comes_first():
    scores = [[0.6] * len(WORDS), [0.99] * len(WORDS), [0.7] * len(WORDS)]
    predicted = [changed(w8="B-MISC"), changed(w0="O", w1="O"), GOLD]
    found = ner_mistakes([WORDS] * 3, [GOLD] * 3, predicted, scores)
    assert [mistake["row"] for mistake in found] == [1, 0] and found[0]["confidence"] == 0.99
    assert counts(found, 3) == {"wrong": 2, "of": 3, "kinds": {MISSED: 1, SPURIOUS: 1}}
    assert describe(counts(found, 3), "sentences") == "2 of 3 sentences wrong (missed 1, spurious 1)"
    assert table_rows(found)[0] == {
        "row": 1,
        "text": " ".join(WORDS),  # under 80 characters: whole
        "gold": "Peter Blackburn (PER); European Commission (ORG)",
        "predicted": "European Commission (ORG)",
        "errors": MISSED,
        "confidence": 0.99,
    }
    long = table_rows([{**found[0], "words": WORDS * 5}])[0]["text"]  # cut, so that the other columns stay in view
    assert len(long) == 80 and long.endswith("…") and long.startswith(" ".join(WORDS))


def test_texts_are_wrong_when_their_most_probable_class_is_not_theirs():
    texts = ["EU rejects German call to boycott British lamb .", "Peter Blackburn", "BRUSSELS 1996-08-22"]
    found = classification_mistakes(texts, None, [0, 1, 1], [[0.2, 0.8], [0.1, 0.9], [0.95, 0.05]], ["neg", "pos"])
    assert [(mistake["row"], mistake["gold"], mistake["predicted"], mistake["confidence"]) for mistake in found] == [
        (2, "pos", "neg", 0.95),
        (0, "neg", "pos", 0.8),
    ]
    assert counts(found, 3)["kinds"] == {"pos as neg": 1, "neg as pos": 1}

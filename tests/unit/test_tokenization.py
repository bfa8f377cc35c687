import pytest

from conftest import long_document
from tasks.config.sections import TokenizationConfig
from tasks.pretrained import load_tokenizer
from tasks.profiles.ner.tokenization import align_labels, continuation_labels, tokenize_words
from tasks.scores.metrics import IGNORED

LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
CONTINUATION = continuation_labels(LABELS)


def test_continuation_turns_b_into_i_and_keeps_the_rest():
    assert CONTINUATION == [0, 2, 2, 4, 4, 6, 6, 8, 8]
    assert continuation_labels(["O", "B-X", "S-Y"]) == [0, 1, 2]  # no I-X to turn into


def test_course_example_special_tokens_ignored_and_split_word_keeps_label():
    word_ids = [None, 0, 1, 2, 3, 4, 5, 6, 7, 7, 8, None]
    labels = [3, 0, 7, 0, 0, 0, 7, 0, 0]
    assert align_labels(word_ids, labels, CONTINUATION, "all-subwords") == [-100, 3, 0, 7, 0, 0, 0, 7, 0, 0, 0, -100]


def test_b_word_split_in_two_gives_b_then_i():
    assert align_labels([None, 0, 0, 1, None], [1, 0], CONTINUATION, "all-subwords") == [-100, 1, 2, 0, -100]


def test_first_subword_mode_ignores_continuations():
    assert align_labels([None, 0, 0, 0, 1, 1, None], [5, 6], CONTINUATION, "first-subword") == [
        -100,
        5,
        IGNORED,
        IGNORED,
        6,
        IGNORED,
        -100,
    ]


def test_tokenize_words_aligns_real_tokenizer_output(tiny_model):
    import datasets

    tokenizer = load_tokenizer(str(tiny_model))
    rows = datasets.Dataset.from_dict({"tokens": [["Huggingface", "is", "in", "Brooklyn"]], "ner_tags": [[3, 0, 0, 5]]})
    encoded = tokenize_words(rows, tokenizer, TokenizationConfig(), CONTINUATION, evaluated=False).rows[0]
    tokens = tokenizer.convert_ids_to_tokens(encoded["input_ids"])
    assert tokens == ["[CLS]", "hugging", "##face", "is", "in", "brooklyn", "[SEP]"]
    assert encoded["labels"] == [-100, 3, 4, 0, 0, 5, -100]
    assert set(encoded) == {"input_ids", "token_type_ids", "attention_mask", "labels"}


def test_a_long_sentence_becomes_windows_that_fit_and_label_every_word(tiny_model, conll_sample):
    import datasets

    tokenizer = load_tokenizer(str(tiny_model))
    words, tags = long_document(conll_sample, 6)
    rows = datasets.Dataset.from_dict({"tokens": [words], "ner_tags": [tags]})
    tokenization = TokenizationConfig(max_length=32, stride=8, label_alignment="first-subword")
    training = tokenize_words(rows, tokenizer, tokenization, CONTINUATION, evaluated=False)
    evaluated = tokenize_words(rows, tokenizer, tokenization, CONTINUATION, evaluated=True)
    assert training.long_inputs == evaluated.long_inputs == 1
    assert len(training.rows) == len(evaluated.rows) > 3
    assert all(
        len(ids) <= 32 and ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id
        for ids in training.rows["input_ids"]
    )
    scored = [[label for label in labels if label != IGNORED] for labels in evaluated.rows["labels"]]
    assert [label for window in scored for label in window] == tags  # each word scored once, in order
    learned = sum(len([label for label in labels if label != IGNORED]) for labels in training.rows["labels"])
    assert learned > len(tags)  # training learns every window's words, the shared ones in two windows


@pytest.mark.parametrize("mode", ["all-subwords", "first-subword"])
def test_every_word_gets_exactly_one_first_subword_label(tiny_model, mode):
    import datasets

    tokenizer = load_tokenizer(str(tiny_model))
    rows = datasets.Dataset.from_dict({"tokens": [["Peter", "Blackburn", "unbelievably"]], "ner_tags": [[1, 2, 0]]})
    tokenization = TokenizationConfig(max_length=64, label_alignment=mode)
    encoded = tokenize_words(rows, tokenizer, tokenization, CONTINUATION, evaluated=False).rows[0]
    word_ids = tokenizer(["Peter", "Blackburn", "unbelievably"], is_split_into_words=True).word_ids()
    firsts = [
        label for i, label in enumerate(encoded["labels"]) if word_ids[i] is not None and word_ids[i] != word_ids[i - 1]
    ]
    assert firsts == [1, 2, 0]


def test_pairs_are_tokenized_as_pairs_with_token_types(tiny_model):
    import datasets

    from tasks.profiles.sequence_classification.tokenization import tokenize_texts

    tokenizer = load_tokenizer(str(tiny_model))
    rows = datasets.Dataset.from_dict({"text": ["Paris is big"], "text_pair": ["it is"], "label": [1]})
    encoded = tokenize_texts(rows, tokenizer, 128)[0]
    assert tokenizer.convert_ids_to_tokens(encoded["input_ids"]) == [
        "[CLS]",
        "paris",
        "is",
        "big",
        "[SEP]",
        "it",
        "is",
        "[SEP]",
    ]
    assert encoded["token_type_ids"] == [0, 0, 0, 0, 0, 1, 1, 1]
    assert encoded["labels"] == 1
    truncated = tokenize_texts(rows, tokenizer, 6)[0]
    assert len(truncated["input_ids"]) == 6 and truncated["input_ids"][-1] == tokenizer.sep_token_id

"""Windows over long inputs: every word in a window that fits, each scored from one window, and a long
input's words predicted as the same words alone would be."""

from itertools import pairwise

import pytest

from conftest import long_document
from tasks.data.context import SENTENCE_ENDS
from tasks.data.windows import owners, word_windows


@pytest.mark.parametrize("budget, stride", [(6, 2), (6, 0), (4, 3), (30, 8)])
def test_windows_fit_cover_every_word_and_share_at_most_the_stride(budget, stride):
    lengths = [1, 2, 1, 1, 3, 1, 1, 1, 2, 1, 4, 1]
    windows = word_windows(lengths, budget, stride)
    assert windows[0][0] == 0 and windows[-1][1] == len(lengths)
    for (start, end), (next_start, next_end) in pairwise(windows):
        assert start < next_start <= end < next_end  # each advances, and none leaves a gap
        assert sum(lengths[next_start:end]) <= stride
    assert all(sum(lengths[start:end]) <= budget for start, end in windows)


def test_a_sentence_that_fits_is_one_window_and_a_word_longer_than_the_budget_stands_alone():
    assert word_windows([2, 3, 1], 6, 2) == [(0, 3)]
    assert word_windows([9, 1, 1], 4, 1) == [(0, 1), (1, 3)]


def test_each_word_is_predicted_from_the_window_where_it_has_most_context():
    lengths = [1] * 10
    windows = word_windows(lengths, 6, 2)
    assert windows == [(0, 6), (4, 10)]
    # Words 4 and 5 are in both: word 4 has 4 words before and 1 after in the first, 0 and 5 in the second.
    assert owners(lengths, windows) == [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]


def test_long_sentence_words_are_predicted_as_their_window_alone_predicts_them(tiny_model, conll_sample):
    """The windowed prediction of each word of a long sentence equals the prediction of the same words given as a
    short input: the words of the window it is scored from, so the same context. And no word is left out."""
    from transformers import AutoModelForTokenClassification

    from tasks.config.sections import TokenizationConfig
    from tasks.data.windows import plan_windows
    from tasks.pretrained import load_tokenizer
    from tasks.profiles import Scoring
    from tasks.profiles.ner.evaluation import predict_words

    tokenizer = load_tokenizer(str(tiny_model))
    model = AutoModelForTokenClassification.from_pretrained(str(tiny_model), num_labels=9).eval()
    # Without sentence ends, the input is one long sentence: read in windows, not a sentence at a time.
    words = [word for word in long_document(conll_sample, 8)[0] if word not in SENTENCE_ENDS]
    tokenization = TokenizationConfig(max_length=40, stride=12)
    [plan] = plan_windows(tokenizer, [words], tokenization.max_length, tokenization.window_stride)
    assert len(plan.windows) > 3
    scoring = Scoring(tokenization, batch_size=4)
    long = predict_words(model, tokenizer, [words], scoring)
    [long_predicted] = long.labels
    alone = predict_words(model, tokenizer, [words[start:end] for start, end in plan.windows], scoring).labels
    assert long.windowed == 1 and len(long_predicted) == len(words)
    expected = [alone[plan.owners[word]][word - plan.windows[plan.owners[word]][0]] for word in range(len(words))]
    assert long_predicted == expected
    assert len(set(long_predicted)) > 1  # a random head predicts more than one label: the comparison means something

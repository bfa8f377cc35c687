"""Windows over long sentences: every word seen by the model, and scored once.

A sentence whose sub-words do not fit the model's length becomes overlapping windows of whole
words (a word is never split between windows, so its first sub-word, the one that carries its
label, is always in the window). Training learns from every window; evaluation and prediction
take each word's prediction from the window where it has the most context on both sides.
"""

from collections.abc import Sequence
from typing import NamedTuple


def word_lengths(word_ids: Sequence[int | None], num_words: int) -> list[int]:
    """Sub-words per word, from a tokenizer's ``word_ids`` (None for special tokens)."""
    lengths = [0] * num_words
    for word in word_ids:
        if word is not None:
            lengths[word] += 1
    return lengths


def word_windows(lengths: Sequence[int], budget: int, stride: int) -> list[tuple[int, int]]:
    """Word ranges ``[start, end)`` covering every word: each holds at most ``budget`` sub-words (a
    single longer word alone, to be truncated), and each after the first repeats the previous one's
    last words, up to ``stride`` sub-words of them. One window when the sentence fits."""
    windows: list[tuple[int, int]] = []
    start = 0
    while True:
        end, size = start, 0
        while end < len(lengths) and (end == start or size + lengths[end] <= budget):
            size += lengths[end]
            end += 1
        windows.append((start, end))
        if end >= len(lengths):
            return windows
        # Shared words leave room for the next word, so that every window reaches further than the last.
        following, shared, room = end, 0, min(stride, budget - lengths[end])
        while following - 1 > start and shared + lengths[following - 1] <= room:
            following -= 1
            shared += lengths[following]
        start = following


def owners(lengths: Sequence[int], windows: Sequence[tuple[int, int]]) -> list[int]:
    """For each word, the window it is predicted from: the one where the fewer of its sub-words of
    context on either side is largest (the first such window on a tie)."""
    owner, context = [0] * len(lengths), [-1] * len(lengths)
    for index, (start, end) in enumerate(windows):
        left, right = 0, sum(lengths[start:end])
        for word in range(start, end):
            right -= lengths[word]
            if min(left, right) > context[word]:
                owner[word], context[word] = index, min(left, right)
            left += lengths[word]
    return owner


class SentenceWindows(NamedTuple):
    windows: list[tuple[int, int]]  # word ranges, see `word_windows`
    owners: list[int]  # for each word, the index of the window it is predicted from


def window_budget(tokenizer, max_length: int) -> int:
    """Sub-words of words a window of ``max_length`` tokens holds, once the special tokens are added."""
    return max_length - tokenizer.num_special_tokens_to_add(pair=False)


def sentence_windows(word_ids: Sequence[int | None], num_words: int, budget: int, stride: int) -> SentenceWindows:
    """The windows of one sentence, from its untruncated ``word_ids``."""
    lengths = word_lengths(word_ids, num_words)
    windows = word_windows(lengths, budget, stride)
    return SentenceWindows(windows, owners(lengths, windows))


def plan_windows(tokenizer, sentences: Sequence[Sequence[str]], max_length: int, stride: int) -> list[SentenceWindows]:
    """The windows of each sentence for a model of ``max_length`` tokens (special tokens included)."""
    budget = window_budget(tokenizer, max_length)
    # Untruncated, to measure: verbose=False keeps the tokenizer from warning about the lengths it is asked for.
    encoded = tokenizer(
        [list(words) for words in sentences], is_split_into_words=True, add_special_tokens=False, verbose=False
    )
    return [sentence_windows(encoded.word_ids(row), len(words), budget, stride) for row, words in enumerate(sentences)]

"""What the model reads for each sentence: the sentence, and up to ``--context`` sub-words of the sentences
before and after it in its document.

A row is a sentence of a document (CoNLL's ``-DOCSTART-``, ``--document-column``, blank lines in plain text)
or a document of its own. A row longer than ``max_length`` is read a sentence at a time (split after ``.``,
``!`` and ``?``): a model fine-tuned on sentences reads multi-sentence windows worse than their sentences.
Each reading holds the sentence's own words between whole words of context; only its own words are
labelled, scored and predicted. A sentence longer than the budget alone is read in windows
(`tasks.data.windows`).
"""

from collections.abc import Sequence
from typing import NamedTuple

from tasks.data.windows import window_budget, word_lengths

DOCUMENT = "document"  # the column of an NER split that holds each sentence's document, when the data marks them
TRAINED_CONTEXT = "sentence_context"  # where a fine-tuned model's config records the context it was trained with
SENTENCE_ENDS = frozenset({".", "!", "?"})
CLOSERS = frozenset({"''", ")", "]", "}"})  # belong to the sentence they close


class Reading(NamedTuple):
    """One model input's words: context before, words ``start:end`` of row ``row``, context after."""

    row: int
    start: int
    end: int
    words: list[str]
    first: int  # the index in ``words`` of the row's word ``start``

    def own(self, index: int) -> int | None:
        """The row's word at ``index`` of ``words``; None for a word of context."""
        word = self.start + index - self.first
        return word if self.start <= word < self.end else None

    def labels(self, tags: Sequence[int], unlabelled: int) -> list[int]:
        """The word labels of ``words``: the row's ``tags`` for its own words, ``unlabelled`` for the context."""
        after = len(self.words) - self.first - (self.end - self.start)
        return [unlabelled] * self.first + list(tags[self.start : self.end]) + [unlabelled] * after


class ReadingPlan(NamedTuple):
    readings: list[Reading]
    long_rows: int  # rows longer than the inputs, read in several readings or windows


def describe(context: int) -> str:
    """What the card says of the context setting."""
    if context == 0:
        return "0 (each sentence read alone)"
    return (
        f"{context} (each sentence read with up to {context} sub-words of the sentences before and after it in "
        "its document; its own words alone learned and scored. The usage example's pipeline reads a text "
        "alone; `python -m flows.predict` reads it as training did)"
    )


def sentence_ranges(words: Sequence[str], lengths: Sequence[int], budget: int) -> list[tuple[int, int]]:
    """Word ranges of a row's sentences: the whole row when its sub-words fit ``budget``, else split after
    each sentence-final word and the brackets or quotes closing it (a ``"`` closes when one is open)."""
    if sum(lengths) <= budget:
        return [(0, len(words))]
    ranges, start, ended, quoted = [], 0, False, False
    for index, word in enumerate(words):
        closes = word in CLOSERS or (word == '"' and quoted)
        quoted ^= word == '"'
        if ended and not closes:
            ranges.append((start, index))
            start = index
        ended = word in SENTENCE_ENDS or (ended and closes)
    return [*ranges, (start, len(words))]


def _nearest(lengths: Sequence[int], allowance: int) -> tuple[int, int]:
    """How many of ``lengths`` (nearest first) fit ``allowance`` sub-words, and the sub-words they take."""
    count = used = 0
    for length in lengths:
        if used + length > allowance:
            break
        count, used = count + 1, used + length
    return count, used


def context_sizes(before: Sequence[int], after: Sequence[int], context: int, room: int) -> tuple[int, int]:
    """Words of context to take before and after a sentence (sub-word lengths nearest first): up to ``context``
    sub-words in all, within ``room``; the side after gets at most half of them, the side before the rest."""
    allowance = min(context, room)
    taken_after, used_after = _nearest(after, allowance // 2)
    taken_before, _ = _nearest(before, allowance - used_after)
    return taken_before, taken_after


def document_ids(rows) -> list | None:
    """Each row's document in a dataset of sentences; None when it marks no documents."""
    return list(rows[DOCUMENT]) if DOCUMENT in rows.column_names else None


def numbered(documents: Sequence) -> list[int]:
    """Each row's document as a number from 0, in order of first appearance."""
    numbers: dict = {}
    return [numbers.setdefault(document, len(numbers)) for document in documents]


def document_rows(documents: Sequence | None, rows: int) -> list[list[int]]:
    """The rows of each document, in order; every row a document of its own without document ids."""
    if documents is None:
        return [[row] for row in range(rows)]
    grouped: dict = {}
    for row, document in enumerate(documents):
        grouped.setdefault(document, []).append(row)
    return list(grouped.values())


def readings(
    sentences: Sequence[Sequence[str]],
    lengths: Sequence[Sequence[int]],
    documents: Sequence | None,
    budget: int,
    context: int,
) -> list[Reading]:
    """The readings of every row, in row order, each sentence's words exactly once; ``lengths`` are each word's
    sub-words, ``budget`` the sub-words an input holds."""
    found: list[Reading] = []
    for rows in document_rows(documents, len(sentences)):
        stream = [(row, word) for row in rows for word in range(len(sentences[row]))]
        sizes = [lengths[row][word] for row, word in stream]
        position = 0
        for row in rows:
            for start, end in sentence_ranges(sentences[row], lengths[row], budget):
                first, last = position + start, position + end
                room = budget - sum(sizes[first:last])
                # A word is a sub-word at least, so no more than ``context`` words of a side can be taken.
                nearest_before = sizes[max(first - context, 0) : first][::-1]
                before, after = context_sizes(nearest_before, sizes[last : last + context], context, max(room, 0))
                words = [sentences[r][w] for r, w in stream[first - before : last + after]]
                found.append(Reading(row, start, end, words, before))
            position += len(sentences[row])
    return sorted(found, key=lambda reading: (reading.row, reading.start))


def plan_readings(
    tokenizer, sentences: Sequence[Sequence[str]], documents: Sequence | None, tokenization
) -> ReadingPlan:
    """The readings of every row for a model of ``tokenization.max_length`` tokens with ``tokenization.context``
    sub-words of context (a `tasks.config.sections.TokenizationConfig`)."""
    budget = window_budget(tokenizer, tokenization.max_length)
    # Untruncated, to measure: verbose=False keeps the tokenizer from warning about the lengths it is asked for.
    encoded = tokenizer(
        [list(words) for words in sentences], is_split_into_words=True, add_special_tokens=False, verbose=False
    )
    lengths = [word_lengths(encoded.word_ids(row), len(words)) for row, words in enumerate(sentences)]
    planned = readings(sentences, lengths, documents, budget, tokenization.context)
    return ReadingPlan(planned, sum(sum(row) > budget for row in lengths))

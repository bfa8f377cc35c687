"""NER's part of the data report: a sentence is its words joined by a space; its labels are its entities."""

from collections import Counter

import datasets

EXAMPLES = "sentences"


def texts(rows: datasets.Dataset) -> list[tuple[str, ...]]:
    return [(" ".join(words),) for words in rows["tokens"]]


def words(rows: datasets.Dataset) -> list[list[str]]:
    return list(rows["tokens"])


def subword_lengths(rows: datasets.Dataset, tokenizer) -> list[int]:
    """Sub-words per sentence as tokenize/align makes them (special tokens included), before truncation."""
    encoded = tokenizer(
        list(rows["tokens"]),
        is_split_into_words=True,
        return_attention_mask=False,
        return_token_type_ids=False,
        verbose=False,  # no warning for each sentence longer than the model takes: the report counts them
    )
    return [len(ids) for ids in encoded["input_ids"]]


def label_counts(rows: datasets.Dataset) -> dict[str, int]:
    """Entities per type, found in the IOB tags as evaluation's seqeval finds them; every type of the
    label list, found or not."""
    from seqeval.metrics.sequence_labeling import get_entities  # pulls in scikit-learn: import when counting

    names = rows.features["ner_tags"].feature.names
    found = Counter(kind for kind, _, _ in get_entities([[names[tag] for tag in row] for row in rows["ner_tags"]]))
    types = sorted({name[2:] for name in names if name[:2] in ("B-", "I-")} | found.keys())
    return {kind: found[kind] for kind in types}


def notes(train_counts: dict[str, int]) -> list[str]:
    """None: NER's metrics count entities of every type alike."""
    return []

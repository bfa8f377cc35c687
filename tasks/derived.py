"""A sentence-pair task derived from real text, since no paraphrase corpus is installable here.

From each CoNLL-2003 document: every two consecutive sentences make a positive pair
(label ``consecutive``), and the first of them with a sentence drawn from another
document of the same split a negative one (``unrelated``), so the classes are balanced.
CoNLL-2003's train, validation and test splits hold different documents, so the
derived splits keep documents apart.
"""

import random
from pathlib import Path

PAIR_LABELS = ["unrelated", "consecutive"]
DESCRIPTION = (
    "sentence pairs built from CoNLL-2003 (Reuters news) documents: two consecutive sentences of a document "
    "are `consecutive`; the first of them with a sentence from another document of the same split is "
    "`unrelated`; balanced, seeded; the splits keep CoNLL-2003's documents apart. Not a paraphrase corpus."
)


def conll_documents(path: Path) -> list[list[str]]:
    """The documents of a CoNLL file, each a list of sentences, each its words joined by spaces."""
    documents: list[list[str]] = [[]]
    words: list[str] = []
    with open(path, encoding="utf-8") as stream:
        for line in (raw.strip() for raw in stream):
            if line and not line.startswith("-DOCSTART-"):
                words.append(line.split()[0])
                continue
            if words:
                documents[-1].append(" ".join(words))
                words = []
            if line.startswith("-DOCSTART-") and documents[-1]:
                documents.append([])
    if words:
        documents[-1].append(" ".join(words))
    return [document for document in documents if document]


def sentence_pairs(documents: list[list[str]], seed: int) -> dict[str, list]:
    """Balanced consecutive (1) and unrelated (0) pairs; the draw of unrelated sentences is seeded."""
    rng = random.Random(seed)
    rows: dict[str, list] = {"sentence1": [], "sentence2": [], "label": []}
    for index, document in enumerate(documents):
        for first, second in zip(document, document[1:]):
            other = rng.randrange(len(documents) - 1)
            stranger = rng.choice(documents[other + (other >= index)])
            for pair, label in (((first, second), 1), ((first, stranger), 0)):
                rows["sentence1"].append(pair[0])
                rows["sentence2"].append(pair[1])
                rows["label"].append(label)
    return rows

"""Classification datasets derived from real text that ships in packages, since no
paraphrase corpus and no ready sentiment corpus is installable here.

Sentence pairs: from each CoNLL-2003 document, leaving out lines of fewer than five words
(headlines, datelines, rows of results tables), every two consecutive sentences make a
positive pair (label ``consecutive``), and the first of them with a sentence drawn from
another document of the same split a negative one (``unrelated``), so the classes are
balanced. CoNLL-2003's train, validation and test splits hold different documents, so
the derived splits keep documents apart.

Movie reviews: the 10,605 movie review snippets that Hutto and Gilbert (ICWSM 2014) had
people score for sentiment, shipped in the vaderSentiment 3.3.2 source distribution;
``positive`` above zero, ``negative`` below, the 37 scored zero dropped.
"""

import io
import random
import tarfile
from collections.abc import Iterable
from pathlib import Path

PAIR_LABELS = ["unrelated", "consecutive"]
MIN_PAIR_WORDS = 5
DESCRIPTION = (
    f"sentence pairs built from CoNLL-2003 (Reuters news) documents, lines of under {MIN_PAIR_WORDS} words left "
    "out: two consecutive sentences of a document "
    "are `consecutive`; the first of them with a sentence from another document of the same split is "
    "`unrelated`; balanced, seeded; the splits keep CoNLL-2003's documents apart. Not a paraphrase corpus."
)


def conll_documents(lines: Iterable[str]) -> list[list[str]]:
    """The documents of a CoNLL file's lines, each a list of sentences, each its words joined by spaces."""
    documents: list[list[str]] = [[]]
    words: list[str] = []
    for line in (raw.strip() for raw in lines):
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


def content_sentences(documents: list[list[str]], min_words: int = MIN_PAIR_WORDS) -> list[list[str]]:
    """Documents without their short lines; documents left with fewer than two sentences are dropped."""
    kept = [[sentence for sentence in document if len(sentence.split()) >= min_words] for document in documents]
    return [document for document in kept if len(document) >= 2]


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


MOVIE_REVIEW_LABELS = ["negative", "positive"]
MOVIE_REVIEW_DESCRIPTION = (
    "movie review snippets with human sentiment scores (Hutto and Gilbert, ICWSM 2014, shipped in the "
    "vaderSentiment 3.3.2 source distribution): `positive` above zero, `negative` below, zeros dropped; "
    "split 80/10/10, seeded."
)
_SNIPPETS = "hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt"


def read_movie_review_snippets(sdist: Path) -> list[tuple[float, str]]:
    """(score, text) for each snippet, read from the nested archive without unpacking it to disk."""
    with tarfile.open(sdist) as outer:
        inner_member = next(member for member in outer.getmembers() if member.name.endswith("hutto_ICWSM_2014.tar.gz"))
        with tarfile.open(fileobj=io.BytesIO(outer.extractfile(inner_member).read())) as inner:
            text = inner.extractfile(_SNIPPETS).read().decode("utf-8")
    rows = []
    for line in text.splitlines():
        if line.strip():
            _, score, snippet = line.split("\t", 2)
            rows.append((float(score), snippet.strip()))
    return rows


def movie_review_splits(snippets: list[tuple[float, str]], seed: int) -> dict[str, dict[str, list]]:
    """Positive vs negative snippets (zeros dropped), shuffled with ``seed`` and split 80/10/10."""
    rows = [(text, int(score > 0)) for score, text in snippets if score != 0]
    random.Random(seed).shuffle(rows)
    cut_train, cut_validation = int(0.8 * len(rows)), int(0.9 * len(rows))
    parts = {"train": rows[:cut_train], "validation": rows[cut_train:cut_validation], "test": rows[cut_validation:]}
    return {split: {"text": [t for t, _ in part], "label": [y for _, y in part]} for split, part in parts.items()}

"""The ranking of suspect labels (`tasks.steps.label_issues`), and the files it is written to (pure).

A row is suspect when the most probable tags (or label) of a model that did not train on it differ from the
given ones. Each class's probability is taken against how sure of that class the models usually are where the
data gives it (cleanlab's confident thresholds, Northcutt et al., "Confident learning", 2021), and a row is
ranked by how many times surer than usual the models are of another class than of the given one
(`contradiction`, the row's score). For NER the unit is an entity, not a word: each entity the data gives, and
each one the models find where the data gives none, is scored on its words' mean probability of each type (and
of none), as an annotator fixes a whole entity. benchmarks/data_loop.py measures it: with one entity's type
changed in 150 of 3,000 sentences, plain self-confidence word by word put 11 of them in the top 150; on the
held-out probabilities of one later run, word by word against the thresholds 51, entity by entity 76 (75 in the
benchmark's own run).
"""

import random
from pathlib import Path

from tasks.data.context import DOCUMENT
from tasks.data.spans import entity_words
from tasks.data.tag_schemes import OUTSIDE, split_tag
from tasks.reports.markdown import shortened, table
from tasks.storage.catalog import LABEL_ISSUES


def halves(rows, seed: int) -> tuple[list[int], list[int]]:
    """The rows of two seeded halves of a split (a `datasets.Dataset`), of whole documents when it marks them."""
    units: dict[object, list[int]] = {}
    for row, unit in enumerate(rows[DOCUMENT] if DOCUMENT in rows.column_names else range(len(rows))):
        units.setdefault(unit, []).append(row)
    order = sorted(units)
    random.Random(seed).shuffle(order)
    first = set(order[: len(order) // 2])
    return (
        [row for unit in order if unit in first for row in units[unit]],
        [row for unit in order if unit not in first for row in units[unit]],
    )


def confident_thresholds(given: list[int], probabilities: list[list[float]]) -> list[float]:
    """Per class, the mean probability the models give it where it is the given label: how sure of it they
    usually are (cleanlab's confident thresholds); 1 for a class that is never given."""
    sums, counts = [0.0] * len(probabilities[0]), [0] * len(probabilities[0])
    for label, row in zip(given, probabilities):
        sums[label], counts[label] = sums[label] + row[label], counts[label] + 1
    return [total / count if count else 1.0 for total, count in zip(sums, counts)]


def contradiction(label: int, probabilities: list[float], thresholds: list[float]) -> float:
    """How many times surer than usual the models are of another class than of ``label``: the largest ratio of
    another class's probability to its threshold, less that of ``label``. Measured against each class's own
    threshold, a class the models are seldom sure of (a rare entity type) counts as much as one they nearly
    always are (``O``)."""
    ratios = [probability / threshold for probability, threshold in zip(probabilities, thresholds)]
    return max(ratios[:label] + ratios[label + 1 :], default=0.0) - ratios[label]


class _Types:
    """The entity types of IOB2 labels, with ``O`` as type 0, and the probability of each type in a word's
    distribution over the labels (its B- and I- tags' together)."""

    def __init__(self, labels: list[str]):
        self.names = [OUTSIDE, *sorted({split_tag(label)[1] for label in labels} - {None})]
        self.of_label = [self.names.index(split_tag(label)[1] or OUTSIDE) for label in labels]

    def mean(self, words: list[list[float]]) -> list[float]:
        """The mean probability of each type over ``words`` (label distributions)."""
        totals = [0.0] * len(self.names)
        for probabilities in words:
            for label, probability in enumerate(probabilities):
                totals[self.of_label[label]] += probability / len(words)
        return totals


def _scored(entities: list[tuple[int, int, str]], words: list[list[float]], types: _Types) -> list[tuple]:
    """Entities as (given type, mean probability of each type over their words). Words cut off by truncation
    (no probabilities) are left out of the means, an entity with none of its words scored altogether."""
    scored = []
    for first, last, kind in entities:
        read = [probabilities for probabilities in words[first : last + 1] if probabilities]
        if read:
            scored.append((types.names.index(kind), types.mean(read)))
    return scored


def _found(given: list[str], suggested: list[str]) -> list[tuple[int, int, str]]:
    """The entities the models find in words that the data gives none of, as entities of type O."""
    covered = {index for first, last, _ in entity_words(given) for index in range(first, last + 1)}
    return [
        (first, last, OUTSIDE) for first, last, _ in entity_words(suggested) if not covered & {*range(first, last + 1)}
    ]


def ner_issues(given: list[list[int]], distributions: list[list[list[float]]], labels: list[str]) -> list[dict]:
    """The sentences whose most probable tags are not the given ones, the strongest `contradiction` of one of
    their entities first: of each entity the data gives and each one the models find where the data gives none.
    The thresholds are those of the entities the data gives, and of the words outside any (their O)."""
    types, sentences, usual = _Types(labels), [], []
    for tags, words in zip(given, distributions):
        names = [labels[tag] for tag in tags]
        suggested = [labels[max(range(len(p)), key=p.__getitem__)] if p else n for n, p in zip(names, words)]
        entities = _scored(entity_words(names), words, types)
        outside = [(0, types.mean([p])) for name, p in zip(names, words) if name == OUTSIDE and p]
        usual += entities + outside
        sentences.append((names, suggested, entities + _scored(_found(names, suggested), words, types)))
    thresholds = confident_thresholds([kind for kind, _ in usual], [probabilities for _, probabilities in usual])
    ranked = []
    for row, (names, suggested, entities) in enumerate(sentences):
        if suggested == names or not entities:
            continue
        score = max(contradiction(kind, probabilities, thresholds) for kind, probabilities in entities)
        ranked.append((-score, row, {"row": row, "given": names, "suggested": suggested, "score": round(score, 4)}))
    return [issue for *_, issue in sorted(ranked, key=lambda ranking: ranking[:2])]


def classification_issues(given: list[int], probabilities: list[list[float]], labels: list[str]) -> list[dict]:
    """The texts whose most probable label is not the given one, the strongest `contradiction` first (then the
    least probable given label)."""
    thresholds, ranked = confident_thresholds(given, probabilities), []
    for row, (label, row_probabilities) in enumerate(zip(given, probabilities)):
        suggested = max(range(len(row_probabilities)), key=row_probabilities.__getitem__)
        if suggested != label:
            score = contradiction(label, row_probabilities, thresholds)
            issue = {"row": row, "given": labels[label], "suggested": labels[suggested], "score": round(score, 4)}
            ranked.append(((-score, row_probabilities[label]), issue))
    return [issue for _, issue in sorted(ranked, key=lambda pair: pair[0])]


def issue_rows(issues: list[dict], limit: int = 10) -> list[list]:
    """The first label issues as table rows: where, the example, what differs (given -> suggested), the score."""
    rows = []
    for issue in issues[:limit]:
        where = f"{Path(issue['file']).name}:{issue['line']}" if issue.get("line") else "—"
        if "words" in issue:
            example = " ".join(issue["words"])
            changes = [
                f"{word}: {given} → {suggested}"
                for word, given, suggested in zip(issue["words"], issue["given"], issue["suggested"])
                if given != suggested
            ]
        else:
            example, changes = issue["text"], [f"{issue['given']} → {issue['suggested']}"]
        rows.append([where, shortened(example), "; ".join(changes), issue["score"]])
    return rows


def markdown(summary: dict, issues: list[dict]) -> str:
    return (
        "\n".join(
            [
                "# Suspect labels",
                "",
                (
                    f"{summary['suspect']:,} of {summary['of']:,} training {summary['unit']} have labels that a model trained on "
                    f"the other half of the split contradicts ({summary['seconds']:.0f} s: two models, each trained on half "
                    "for twice the run's epochs); "
                    f"the strongest contradiction first, all in `{LABEL_ISSUES}`:"
                ),
                "",
                *table(["Where", "Example", "Given → suggested", "Score"], issue_rows(issues)),
            ]
        )
        + "\n"
    )

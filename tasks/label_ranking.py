"""The ranking of suspect labels (`tasks.label_issues`), and the files it is written to (pure).

A row is suspect when the most probable tags (or label) of a model that did not train on it differ from the
given ones. Each class's probability is taken against how sure of that class the models usually are where the
data gives it (cleanlab's confident thresholds, Northcutt et al., "Confident learning", 2021), and rows are
ranked by their word (or text) where another class most exceeds its usual confidence while the given one does
not (`contradiction`, the row's score). Plain self-confidence (one minus the given tag's probability) lets
models that are nearly always sure of ``O`` and seldom of ``MISC`` fill the top with entities they cannot find,
ahead of entities given the wrong type (measured by benchmarks/data_loop.py).
"""

import random
from pathlib import Path

from tasks.catalog import LABEL_ISSUES
from tasks.context import DOCUMENT
from tasks.markdown import shortened, table


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
    """How much surer than usual the models are of another class than of ``label``: the largest excess of another
    class's probability over its threshold, less that of ``label`` (each excess at least 0). Measured against
    each class's own threshold, a class the models are seldom sure of (a rare entity type) counts as much as
    one they nearly always are (``O``)."""
    excess = [max(probability - threshold, 0.0) for probability, threshold in zip(probabilities, thresholds)]
    return max(excess[:label] + excess[label + 1 :], default=0.0) - excess[label]


def ner_issues(given: list[list[int]], distributions: list[list[list[float]]], labels: list[str]) -> list[dict]:
    """The sentences whose most probable tags are not the given ones, the strongest `contradiction` of one of
    their words first (then the least probable given tag)."""
    read = [
        [(tag, probabilities) for tag, probabilities in zip(tags, rows) if probabilities]  # words cut off: none
        for tags, rows in zip(given, distributions)
    ]
    words = [word for sentence in read for word in sentence]
    thresholds = confident_thresholds([tag for tag, _ in words], [probabilities for _, probabilities in words])
    ranked = []
    for row, (tags, rows) in enumerate(zip(given, distributions)):
        suggested = [
            max(range(len(probabilities)), key=probabilities.__getitem__) if probabilities else tag
            for tag, probabilities in zip(tags, rows)
        ]
        if suggested == list(tags) or not read[row]:
            continue
        score = max(contradiction(tag, probabilities, thresholds) for tag, probabilities in read[row])
        issue = {
            "row": row,
            "given": [labels[tag] for tag in tags],
            "suggested": [labels[tag] for tag in suggested],
            "score": round(score, 4),
        }
        ranked.append(((-score, min(probabilities[tag] for tag, probabilities in read[row])), issue))
    return [issue for _, issue in sorted(ranked, key=lambda pair: pair[0])]


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

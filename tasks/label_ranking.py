"""The ranking of suspect labels (`tasks.label_issues`), and the files it is written to (pure).

A row is suspect when the most probable tags (or label) of a model that did not train on it differ from the
given ones; its score is one minus the probability that model gives the given tag of its least likely word (or
the given label), so the most confident contradictions come first: the self-confidence by which cleanlab
ranks label issues (Northcutt et al., "Confident learning", 2021).
"""

import random
from pathlib import Path

from tasks.context import DOCUMENT
from tasks.markdown import table

LABEL_ISSUES, SUMMARY, MARKDOWN = "label_issues.jsonl", "label_issues.json", "label_issues.md"


def halves(rows, seed: int) -> tuple[list[int], list[int]]:
    """The rows of two seeded halves of a split (a `datasets.Dataset`), of whole documents when it marks them."""
    units: dict[object, list[int]] = {}
    for row, unit in enumerate(rows[DOCUMENT] if DOCUMENT in rows.column_names else range(len(rows))):
        units.setdefault(unit, []).append(row)
    order = sorted(units)
    random.Random(seed).shuffle(order)
    first = set(order[: len(order) // 2])
    return ([row for unit in order if unit in first for row in units[unit]],
            [row for unit in order if unit not in first for row in units[unit]])  # fmt: skip


def ner_issues(given: list[list[int]], distributions: list[list[list[float]]], labels: list[str]) -> list[dict]:
    """The sentences whose most probable tags are not the given ones, most confident contradiction first."""
    issues = []
    for row, (tags, rows) in enumerate(zip(given, distributions)):
        read = [(tag, probabilities) for tag, probabilities in zip(tags, rows) if probabilities]  # words cut off: none
        suggested = [max(range(len(probabilities)), key=probabilities.__getitem__) if probabilities else tag
                     for tag, probabilities in zip(tags, rows)]  # fmt: skip
        if suggested == list(tags) or not read:
            continue
        score = 1 - min(probabilities[tag] for tag, probabilities in read)
        issues.append({"row": row, "given": [labels[tag] for tag in tags], "suggested": [labels[tag] for tag in suggested],
                       "score": round(score, 4)})  # fmt: skip
    return sorted(issues, key=lambda issue: -issue["score"])


def classification_issues(given: list[int], probabilities: list[list[float]], labels: list[str]) -> list[dict]:
    """The texts whose most probable label is not the given one, most confident contradiction first."""
    issues = []
    for row, (label, row_probabilities) in enumerate(zip(given, probabilities)):
        suggested = max(range(len(row_probabilities)), key=row_probabilities.__getitem__)
        if suggested != label:
            issues.append({"row": row, "given": labels[label], "suggested": labels[suggested],
                           "score": round(1 - row_probabilities[label], 4)})  # fmt: skip
    return sorted(issues, key=lambda issue: -issue["score"])


def issue_rows(issues: list[dict], limit: int = 10) -> list[list]:
    """The first label issues as table rows: where, the example, what differs (given -> suggested), the score."""
    rows = []
    for issue in issues[:limit]:
        where = f"{Path(issue['file']).name}:{issue['line']}" if issue.get("line") else "—"
        if "words" in issue:
            example = " ".join(issue["words"])
            changes = [f"{word}: {given} → {suggested}" for word, given, suggested
                       in zip(issue["words"], issue["given"], issue["suggested"]) if given != suggested]  # fmt: skip
        else:
            example, changes = issue["text"], [f"{issue['given']} → {issue['suggested']}"]
        rows.append([where, example if len(example) <= 80 else example[:79] + "…", "; ".join(changes), issue["score"]])
    return rows


def markdown(summary: dict, issues: list[dict]) -> str:
    return "\n".join([
        "# Suspect labels", "",
        (f"{summary['suspect']:,} of {summary['of']:,} training {summary['unit']} have labels that a model trained on "
         f"the other half of the split contradicts ({summary['seconds']:.0f} s: two models, each trained on half); "
         f"the most confident first, all in `{LABEL_ISSUES}`:"), "",
        *table(["Where", "Example", "Given → suggested", "Score"], issue_rows(issues)),
    ]) + "\n"  # fmt: skip

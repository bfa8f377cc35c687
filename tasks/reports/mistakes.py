"""The mistakes of a scored split: every sentence or text the model got wrong, what is wrong with it, most
confident first, for ``errors/<split>.jsonl`` and the counts the card and the Prefect UI show (pure).

An NER sentence is wrong when its entities differ from the gold ones. Each difference is one of `NER_KINDS`:
a gold entity no prediction overlaps is missed; a predicted entity overlapping no gold one is spurious; one
with a gold entity's words but another type is of the wrong type; one that overlaps a gold entity without its
exact words has the wrong boundary. A text is wrong when its predicted label is not its gold one.
"""

from pathlib import Path

from tasks.data.spans import entity_words
from tasks.reports.markdown import shortened
from tasks.storage.files import write_json_lines

MISSED, SPURIOUS, WRONG_TYPE, WRONG_BOUNDARY = "missed", "spurious", "wrong type", "wrong boundary"
NER_KINDS = (MISSED, SPURIOUS, WRONG_TYPE, WRONG_BOUNDARY)

Entity = tuple[int, int, str]  # first word, last word, type


def _entity(words: list[str], entity: Entity, scores: list[float] | None = None) -> dict:
    first, last, kind = entity
    found = {"type": kind, "words": [first, last + 1], "text": " ".join(words[first : last + 1])}
    if scores is not None:
        found["score"] = round(sum(scores[first : last + 1]) / (last + 1 - first), 4)
    return found


def _overlaps(one: Entity, other: Entity) -> bool:
    return one[0] <= other[1] and other[0] <= one[1]


def entity_errors(gold: list[Entity], predicted: list[Entity]) -> list[tuple[str, Entity | None, Entity | None]]:
    """Each difference between gold and predicted entities: its kind, the gold entity and the predicted one."""
    errors: list[tuple[str, Entity | None, Entity | None]] = []
    for entity in gold:
        if entity in predicted:
            continue
        overlapping = [found for found in predicted if _overlaps(entity, found)]
        same_words = [found for found in overlapping if found[:2] == entity[:2]]
        if same_words:
            errors.append((WRONG_TYPE, entity, same_words[0]))
        elif overlapping:
            errors.append((WRONG_BOUNDARY, entity, overlapping[0]))
        else:
            errors.append((MISSED, entity, None))
    errors += [(SPURIOUS, None, found) for found in predicted if not any(_overlaps(found, entity) for entity in gold)]
    return errors


def ner_mistakes(
    sentences: list[list[str]], gold: list[list[str]], predicted: list[list[str]], scores: list[list[float]]
) -> list[dict]:
    """The wrong sentences (IOB2 tags), each with its entities and errors, ordered by the model's confidence
    in its wrong tags, highest first: where a confident model disagrees with the data, one of them is wrong."""
    mistakes = []
    for row, (words, gold_tags, predicted_tags, word_scores) in enumerate(zip(sentences, gold, predicted, scores)):
        gold_entities, predicted_entities = entity_words(gold_tags), entity_words(predicted_tags)
        errors = entity_errors(gold_entities, predicted_entities)
        if not errors:
            continue
        wrong = [word_scores[index] for index, (g, p) in enumerate(zip(gold_tags, predicted_tags)) if g != p]
        mistakes.append(
            {
                "row": row,
                "words": words,
                "gold": [_entity(words, entity) for entity in gold_entities],
                "predicted": [_entity(words, entity, word_scores) for entity in predicted_entities],
                "errors": [
                    {
                        "kind": kind,
                        **({"gold": _entity(words, g)} if g else {}),
                        **({"predicted": _entity(words, p)} if p else {}),
                    }
                    for kind, g, p in errors
                ],
                "confidence": round(max(wrong, default=max(word_scores, default=0.0)), 4),
            }
        )
    return sorted(mistakes, key=lambda mistake: -mistake["confidence"])


def classification_mistakes(
    texts: list[str], pairs: list[str] | None, gold: list[int], probabilities: list[list[float]], labels: list[str]
) -> list[dict]:
    """The texts whose most probable label is not their gold one, most confident first."""
    mistakes = []
    for row, (text, label, row_probabilities) in enumerate(zip(texts, gold, probabilities)):
        predicted = max(range(len(row_probabilities)), key=row_probabilities.__getitem__)
        if predicted == label:
            continue
        mistakes.append(
            {
                "row": row,
                "text": text,
                **({"text_pair": pairs[row]} if pairs else {}),
                "gold": labels[label],
                "predicted": labels[predicted],
                "confidence": round(row_probabilities[predicted], 4),
                "probabilities": {name: round(value, 4) for name, value in zip(labels, row_probabilities)},
            }
        )
    return sorted(mistakes, key=lambda mistake: -mistake["confidence"])


def kinds(mistake: dict) -> list[str]:
    """What is wrong with one mistake: its NER errors' kinds, or ``<gold> as <predicted>`` for a text."""
    return (
        [error["kind"] for error in mistake["errors"]]
        if "errors" in mistake
        else [f"{mistake['gold']} as {mistake['predicted']}"]
    )


def counts(mistakes: list[dict], total: int) -> dict:
    """How many rows of ``total`` are wrong, and how many errors of each kind they hold (most first)."""
    by_kind: dict[str, int] = {}
    for kind in (kind for mistake in mistakes for kind in kinds(mistake)):
        by_kind[kind] = by_kind.get(kind, 0) + 1
    return {"wrong": len(mistakes), "of": total, "kinds": dict(sorted(by_kind.items(), key=lambda item: -item[1]))}


def describe(found: dict, unit: str) -> str:
    """The counts in a sentence, as the card and the log give them."""
    spread = ", ".join(f"{kind} {count:,}" for kind, count in found["kinds"].items())
    return f"{found['wrong']:,} of {found['of']:,} {unit} wrong" + (f" ({spread})" if spread else "")


def write_mistakes(mistakes: list[dict], path: Path, lines: list[int] | None = None) -> None:
    """The mistakes as JSON lines at ``path``; each with the ``line`` of the input it came from, when given
    (the predict flow's input)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_lines(path, [{"line": lines[mistake["row"]], **mistake} if lines else mistake for mistake in mistakes])


def table_rows(mistakes: list[dict], limit: int = 20) -> list[dict]:
    """The first mistakes as rows of a Prefect table artifact: the kind of each error first, then the text
    (shortened, so that what was expected and what was found stay in view), both, and the confidence."""

    def entities(found: list[dict]) -> str:
        return "; ".join(f"{entity['text']} ({entity['type']})" for entity in found) or "—"

    return [
        {
            "row": mistake["row"],
            "errors": ", ".join(kinds(mistake)),
            "text": shortened(" ".join(mistake["words"]) if "words" in mistake else mistake["text"]),
            "gold": entities(mistake["gold"]) if "words" in mistake else mistake["gold"],
            "predicted": entities(mistake["predicted"]) if "words" in mistake else mistake["predicted"],
            "confidence": mistake["confidence"],
        }
        for mistake in mistakes[:limit]
    ]

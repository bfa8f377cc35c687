"""Metric conversion: token-level label ids to tag sequences, and entity scores by several matching rules.

Scoring is per word: evaluation data labels only each word's first sub-word, so
dropping the ignored (-100) positions leaves one prediction per word. seqeval's
default mode follows conlleval's chunk rules, its strict mode IOB2's; nervaluate
counts SemEval-2013's exact, partial and type matches.
"""

from collections.abc import Sequence

from tasks.scores.run_metric import metric_value

IGNORED = -100


def to_tag_sequences(
    predictions: Sequence[Sequence[int]], label_ids: Sequence[Sequence[int]], labels: list[str]
) -> tuple[list[list[str]], list[list[str]]]:
    """Gold and predicted tag sequences, keeping only positions whose gold label is not ignored."""
    gold, predicted = [], []
    for row_predictions, row_labels in zip(predictions, label_ids):
        kept = [(label, prediction) for prediction, label in zip(row_predictions, row_labels) if label != IGNORED]
        gold.append([labels[label] for label, _ in kept])
        predicted.append([labels[prediction] for _, prediction in kept])
    return gold, predicted


def seqeval_scores(gold: list[list[str]], predicted: list[list[str]]) -> dict:
    """Overall precision/recall/F1/accuracy and the same per entity type, as plain floats: by conlleval's rules,
    and as ``strict_precision``, ``strict_recall``, ``strict_f1`` by strict IOB2 rules, where an entity must
    start with B- (conlleval also takes one that starts with I-)."""
    from seqeval.metrics import accuracy_score
    from seqeval.scheme import IOB2

    overall, per_type = _seqeval_report(gold, predicted)
    strict, strict_per_type = _seqeval_report(gold, predicted, mode="strict", scheme=IOB2)
    for name, row in per_type.items():
        row.update(_strict(strict_per_type.get(name)))
    return {
        **{name: overall[name] for name in ("precision", "recall", "f1")},
        "accuracy": float(accuracy_score(gold, predicted)),
        **_strict(strict),
        "per_type": per_type,
    }


def _seqeval_report(gold: list[list[str]], predicted: list[list[str]], **mode) -> tuple[dict, dict]:
    """seqeval's micro average and its rows per entity type, each with precision, recall, F1 and support."""
    from seqeval.metrics import classification_report  # pulls in scikit-learn: import when scoring

    report = classification_report(gold, predicted, output_dict=True, zero_division=0, **mode)
    rows = {
        name: {
            "precision": float(row["precision"]),
            "recall": float(row["recall"]),
            "f1": float(row["f1-score"]),
            "support": int(row["support"]),
        }
        for name, row in report.items()
    }
    return rows["micro avg"], {name: row for name, row in rows.items() if not name.endswith(" avg")}


def _strict(row: dict | None) -> dict[str, float]:
    """A strict-mode row's scores under ``strict_`` names; zeros for a type strict rules find no entity of (one
    with no gold entity, each of whose predicted ones starts with I-)."""
    return {f"strict_{name}": row[name] if row else 0.0 for name in ("precision", "recall", "f1")}


PARTIAL_MATCH = "partial_match"
MISTAKES = "mistakes"  # a split's wrong rows counted by kind (`tasks.reports.mistakes.counts`)
# SemEval-2013's matches (our names) as nervaluate names them.
SEMEVAL_KINDS = {"strict": "strict", "exact": "exact", "partial": "partial", "type": "ent_type"}
SEMEVAL_COUNTS = ("correct", "incorrect", "partial", "missed", "spurious")


def partial_match_scores(gold: list[list[str]], predicted: list[list[str]]) -> dict:
    """SemEval-2013's four matches of predicted entities with gold ones (nervaluate), ``overall`` and
    ``per_type``: ``strict`` (same words, same type), ``exact`` (same words, any type), ``partial`` (overlapping
    words, any type; an overlap that is not exact counts half) and ``type`` (overlapping words, same type).
    Each has precision, recall, F1 and the counts they come from. Per type only entities of that type are
    compared, so there a type error is a missed entity of one type and a spurious one of the other."""
    from nervaluate import Evaluator

    types = sorted({tag.split("-", 1)[1] for sentence in (*gold, *predicted) for tag in sentence if tag != "O"})
    # "list" named: nervaluate guesses the format from the first sentence's first tag, which an empty sentence lacks.
    found = Evaluator(gold, predicted, tags=types, loader="list").evaluate()
    return {
        "overall": _semeval_kinds(found["overall"]),
        "per_type": {kind: _semeval_kinds(found["entities"][kind]) for kind in sorted(found["entities"])},
    }


def _semeval_kinds(results: dict) -> dict:
    """Each match's precision, recall, F1 and counts, under SemEval's names."""
    return {ours: _semeval_row(results[theirs]) for ours, theirs in SEMEVAL_KINDS.items()}


def _semeval_row(result) -> dict:
    scores = {"precision": float(result.precision), "recall": float(result.recall), "f1": float(result.f1)}
    return {**scores, **{count: getattr(result, count) for count in SEMEVAL_COUNTS}}


def reported_scores(scores: dict, names: tuple[str, ...]) -> dict[str, float]:
    """What the Prefect UI's table and the trackers show of a split's final scores: the task's headline
    ``names`` and, where the evaluate step scored entities (NER), F1 by strict IOB2 rules (``strict_f1``) and by
    SemEval's partial matches (``partial_f1``)."""
    reported = {name: scores[name] for name in names}
    if PARTIAL_MATCH in scores:
        reported |= {"strict_f1": scores["strict_f1"], "partial_f1": scores[PARTIAL_MATCH]["overall"]["partial"]["f1"]}
    return reported


def trainer_metrics(validation_scores, names: tuple[str, ...], labels: list[str]):
    """A Trainer ``compute_metrics`` over argmax predictions (see `argmax_logits`): the metrics ``names``
    (`tasks.scores.run_metric`) of ``validation_scores(predicted, gold, labels)``, a task's (`tasks.profiles`)."""

    def compute(prediction) -> dict[str, float]:
        scores = validation_scores(prediction.predictions.tolist(), prediction.label_ids.tolist(), labels)
        return {name: metric_value(scores, name) for name in names}

    return compute


def argmax_logits(logits, labels):
    """Keep only the predicted ids, so evaluation does not accumulate full logits."""
    return logits.argmax(dim=-1)


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else 0.0


def classification_scores(gold: Sequence[int], predicted: Sequence[int], labels: list[str]) -> dict:
    """Accuracy, F1 and a confusion matrix (rows gold, columns predicted). ``f1`` is the
    positive class's F1 for two classes (label id 1, as GLUE reports MRPC), macro-F1 otherwise;
    ``macro_f1`` is always there."""
    confusion = [[0] * len(labels) for _ in labels]
    for truth, guess in zip(gold, predicted):
        confusion[truth][guess] += 1
    per_class = {}
    for index, label in enumerate(labels):
        hits = confusion[index][index]
        predicted_as = sum(row[index] for row in confusion)
        precision, recall = _ratio(hits, predicted_as), _ratio(hits, sum(confusion[index]))
        per_class[label] = {
            "precision": precision,
            "recall": recall,
            "f1": _ratio(2 * precision * recall, precision + recall),
            "support": sum(confusion[index]),
        }
    macro_f1 = sum(row["f1"] for row in per_class.values()) / len(labels)
    return {
        "accuracy": _ratio(sum(confusion[i][i] for i in range(len(labels))), len(gold)),
        "f1": per_class[labels[1]]["f1"] if len(labels) == 2 else macro_f1,
        "macro_f1": macro_f1,
        "per_class": per_class,
        "confusion_matrix": {"labels": labels, "rows_gold_columns_predicted": confusion},
    }


NO_ENTITY = "no entity"


def entity_type_confusion(gold: list[list[str]], predicted: list[list[str]]) -> dict:
    """Word-level confusion of entity types (IOB1 or IOB2 tags); ``NO_ENTITY`` comes last, so its
    column counts the words of missed entities and its row the spurious ones."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold sentences but {len(predicted)} predicted")
    pairs = []
    for index, (gold_tags, predicted_tags) in enumerate(zip(gold, predicted)):
        if len(gold_tags) != len(predicted_tags):
            raise ValueError(f"sentence {index}: {len(gold_tags)} gold tags but {len(predicted_tags)} predicted")
        # Which type a word belongs to is the question here, not chunk boundaries: B-X and I-X are both X.
        pairs += [
            tuple(NO_ENTITY if tag == "O" else tag.split("-", 1)[-1] for tag in pair)
            for pair in zip(gold_tags, predicted_tags)
        ]
    labels = sorted({kind for pair in pairs for kind in pair} - {NO_ENTITY}) + [NO_ENTITY]
    position = {label: index for index, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for truth, guess in pairs:
        matrix[position[truth]][position[guess]] += 1
    return {"labels": labels, "rows_gold_columns_predicted": matrix}

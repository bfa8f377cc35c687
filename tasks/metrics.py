"""Metric conversion: token-level label ids to tag sequences, and seqeval scores.

Scoring is per word: evaluation data labels only each word's first sub-word, so
dropping the ignored (-100) positions leaves one prediction per word. seqeval's
default mode follows conlleval's chunk rules.
"""

from collections.abc import Sequence

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
    """Overall precision/recall/F1/accuracy and the same per entity type, as plain floats."""
    from seqeval.metrics import accuracy_score, classification_report  # pulls in scikit-learn: import when scoring
    report = classification_report(gold, predicted, output_dict=True, zero_division=0)
    per_type = {
        name: {
            "precision": float(row["precision"]),
            "recall": float(row["recall"]),
            "f1": float(row["f1-score"]),
            "support": int(row["support"]),
        }
        for name, row in report.items()
        if not name.endswith(" avg")
    }
    overall = report["micro avg"]
    return {
        "precision": float(overall["precision"]),
        "recall": float(overall["recall"]),
        "f1": float(overall["f1-score"]),
        "accuracy": float(accuracy_score(gold, predicted)),
        "per_type": per_type,
    }


def trainer_metrics(validation_scores, names: tuple[str, ...], labels: list[str]):
    """A Trainer ``compute_metrics`` over argmax predictions (see `argmax_logits`): the metrics ``names``
    of ``validation_scores(predicted, gold, labels)``, a task's (`tasks.profiles`)."""

    def compute(prediction) -> dict[str, float]:
        scores = validation_scores(prediction.predictions.tolist(), prediction.label_ids.tolist(), labels)
        return {name: scores[name] for name in names}

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
        pairs += [tuple(NO_ENTITY if tag == "O" else tag.split("-", 1)[-1] for tag in pair)
                  for pair in zip(gold_tags, predicted_tags)]
    labels = sorted({kind for pair in pairs for kind in pair} - {NO_ENTITY}) + [NO_ENTITY]
    position = {label: index for index, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for truth, guess in pairs:
        matrix[position[truth]][position[guess]] += 1
    return {"labels": labels, "rows_gold_columns_predicted": matrix}

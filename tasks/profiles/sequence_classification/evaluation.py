"""Sequence classification's part of evaluate: predicted labels with their probability, as CSV, and
accuracy, F1 and a confusion matrix."""

import csv
from pathlib import Path

import datasets
from tqdm.auto import tqdm

from tasks.profiles import PAIR_COLUMN, Scoring, is_pair, label_names
from tasks.reports.mistakes import classification_mistakes, counts, write_mistakes
from tasks.scores.metrics import MISTAKES, classification_scores


def predict_texts(model, tokenizer, texts: list[str], pairs: list[str] | None, scoring: Scoring) -> list[list[float]]:
    """Every class's probability for each text (or pair), batching similar lengths; a text longer than
    max_length is truncated."""
    lengths = [len(text) + (len(pairs[i]) if pairs else 0) for i, text in enumerate(texts)]
    order = sorted(range(len(texts)), key=lengths.__getitem__)
    probabilities: list[list[float]] = [[]] * len(texts)
    for start in tqdm(range(0, len(order), scoring.batch_size), desc=scoring.progress, unit="batch"):
        batch = order[start : start + scoring.batch_size]
        encoded = tokenizer(
            [texts[i] for i in batch],
            [pairs[i] for i in batch] if pairs else None,
            truncation=True,
            max_length=scoring.tokenization.max_length,
            padding=True,
            return_tensors="pt",
        )
        logits = model(**{key: value.to(model.device) for key, value in encoded.items()}).logits
        for index, row in zip(batch, logits.float().softmax(dim=-1).tolist()):
            probabilities[index] = row
    return probabilities


def best(probabilities: list[float]) -> int:
    """The predicted class: the most probable."""
    return max(range(len(probabilities)), key=probabilities.__getitem__)


def score(model, tokenizer, rows: datasets.Dataset, scoring: Scoring, predictions: Path, errors: Path) -> dict:
    """Accuracy, F1, confusion matrix and the mistakes counted by kind; writes ``<split>.csv`` (text,
    text_pair for pairs, gold, predicted, probability of the prediction) and the wrong texts as JSON lines at
    ``errors`` (`tasks.reports.mistakes`)."""
    labels = label_names(model)
    texts, gold = list(rows["text"]), list(rows["label"])
    pairs = list(rows[PAIR_COLUMN]) if is_pair(rows.column_names) else None
    probabilities = predict_texts(model, tokenizer, texts, pairs, scoring)
    predicted = [best(row) for row in probabilities]
    probability = [row[label] for row, label in zip(probabilities, predicted)]
    with open(predictions.with_suffix(".csv"), "w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(["text", *([PAIR_COLUMN] if pairs else []), "gold", "predicted", "probability"])
        for i, text in enumerate(texts):
            writer.writerow(
                [text, *([pairs[i]] if pairs else []), labels[gold[i]], labels[predicted[i]], f"{probability[i]:.4f}"]
            )
    mistakes = classification_mistakes(texts, pairs, gold, probabilities, labels)
    write_mistakes(mistakes, errors, rows["line"] if "line" in rows.column_names else None)
    return {
        "num_examples": len(texts),
        **classification_scores(gold, predicted, labels),
        MISTAKES: counts(mistakes, len(texts)),
    }


def draw_figures(split: str, scores: dict, out: Path) -> list[dict]:
    """F1 per class, and the confusion matrix."""
    from tasks.reports.plots import confusion_heatmap, f1_bars

    name = split.capitalize()
    f1_bars(scores["per_class"], f"{name} F1 per class", out / "f1_per_class.png")
    confusion = scores["confusion_matrix"]
    title = f"{name} examples by class"
    confusion_heatmap(confusion["labels"], confusion["rows_gold_columns_predicted"], title, out / "confusion.png")
    return [
        {"file": "f1_per_class.png", "title": f"{name} F1 per class", "section": "evaluation"},
        {"file": "confusion.png", "title": f"{title}: gold against predicted", "section": "evaluation"},
    ]

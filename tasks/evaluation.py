"""evaluate: scores of the saved model on validation and test, and its predictions.

NER is scored per word (first sub-word) with seqeval and predictions are CoNLL text;
sequence classification gets accuracy, F1 and a confusion matrix, predictions as CSV.
The model is scored where and in the precision it trained (`tasks.hardware`), in batches of
similar lengths.
"""

import csv
import time
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm.auto import tqdm

from tasks.artifacts import building, step, write_json
from tasks.config import MixedPrecision, TaskName
from tasks.hardware import autocast, compute_device, resolve_precision
from tasks.metrics import classification_scores, seqeval_scores
from tasks.pretrained import load_tokenizer

METRICS = "metrics.json"
# Where the evaluation ran: device, precision and seconds per split.
EVALUATED_ON = "evaluated_on.json"
PREDICTIONS = "predictions"
EVALUATED_SPLITS = ("validation", "test")

if TYPE_CHECKING:
    import datasets


def word_predictions(word_ids: list[int | None], token_predictions: list[int], num_words: int, outside: int) -> list[int]:
    """One prediction per word, from its first sub-word; words cut off by truncation get ``outside``."""
    predicted = [outside] * num_words
    previous = None
    for word, prediction in zip(word_ids, token_predictions):
        if word is not None and word != previous:
            predicted[word] = prediction
        previous = word
    return predicted


def predict_words(model, tokenizer, sentences: list[list[str]], max_length: int, batch_size: int) -> list[list[int]]:
    """Label ids per word for every sentence, batching sentences of similar length together."""
    outside = model.config.label2id.get("O", 0)
    order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
    predicted: list[list[int]] = [[] for _ in sentences]
    for start in tqdm(range(0, len(order), batch_size), desc="evaluate", unit="batch"):
        batch = order[start : start + batch_size]
        encoded = tokenizer(
            [sentences[i] for i in batch], is_split_into_words=True, truncation=True,
            max_length=max_length, padding=True, return_tensors="pt",
        )  # fmt: skip
        logits = model(**{key: value.to(model.device) for key, value in encoded.items()}).logits
        token_predictions = logits.argmax(dim=-1).tolist()
        for row, index in enumerate(batch):
            predicted[index] = word_predictions(
                encoded.word_ids(row), token_predictions[row], len(sentences[index]), outside
            )
    return predicted


def conll_lines(sentences: list[list[str]], gold: list[list[str]], predicted: list[list[str]]) -> list[str]:
    """``word gold predicted`` per line, a blank line after each sentence: what conlleval reads."""
    lines = []
    for words, gold_tags, predicted_tags in zip(sentences, gold, predicted):
        lines += [f"{word} {g} {p}" for word, g, p in zip(words, gold_tags, predicted_tags)]
        lines.append("")
    return lines


def labels_of(model) -> list[str]:
    return [model.config.id2label[i] for i in range(model.config.num_labels)]


def score_words(model, tokenizer, rows: "datasets.Dataset", max_length: int, batch_size: int, predictions: Path) -> dict:
    """NER: seqeval scores per word; writes ``<split>.txt`` in CoNLL format."""
    labels = labels_of(model)
    sentences = list(rows["tokens"])
    gold_names = rows.features["ner_tags"].feature.names
    gold = [[gold_names[tag] for tag in row] for row in rows["ner_tags"]]
    predicted = [[labels[tag] for tag in row] for row in predict_words(model, tokenizer, sentences, max_length, batch_size)]
    predictions.with_suffix(".txt").write_text("\n".join(conll_lines(sentences, gold, predicted)))
    return {"num_sentences": len(sentences), **seqeval_scores(gold, predicted)}


def predict_texts(model, tokenizer, texts: list[str], pairs: list[str] | None, max_length: int, batch_size: int):
    """The predicted label id and its probability for each text (or pair), batching similar lengths."""
    lengths = [len(text) + (len(pairs[i]) if pairs else 0) for i, text in enumerate(texts)]
    order = sorted(range(len(texts)), key=lengths.__getitem__)
    predicted, probability = [0] * len(texts), [0.0] * len(texts)
    for start in tqdm(range(0, len(order), batch_size), desc="evaluate", unit="batch"):
        batch = order[start : start + batch_size]
        encoded = tokenizer(
            [texts[i] for i in batch], [pairs[i] for i in batch] if pairs else None,
            truncation=True, max_length=max_length, padding=True, return_tensors="pt",
        )  # fmt: skip
        probabilities = model(**{key: value.to(model.device) for key, value in encoded.items()}).logits.softmax(dim=-1)
        best, ids = probabilities.max(dim=-1)
        for index, label_id, score in zip(batch, ids.tolist(), best.tolist()):
            predicted[index], probability[index] = label_id, score
    return predicted, probability


def score_texts(model, tokenizer, rows: "datasets.Dataset", max_length: int, batch_size: int, predictions: Path) -> dict:
    """Sequence classification: accuracy, F1, confusion matrix; writes ``<split>.csv``
    (text, text_pair for pairs, gold, predicted, probability of the prediction)."""
    labels = labels_of(model)
    texts, gold = list(rows["text"]), list(rows["label"])
    pairs = list(rows["text_pair"]) if "text_pair" in rows.column_names else None
    predicted, probability = predict_texts(model, tokenizer, texts, pairs, max_length, batch_size)
    with open(predictions.with_suffix(".csv"), "w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(["text", *(["text_pair"] if pairs else []), "gold", "predicted", "probability"])
        for i, text in enumerate(texts):
            writer.writerow([text, *([pairs[i]] if pairs else []), labels[gold[i]], labels[predicted[i]], f"{probability[i]:.4f}"])
    return {"num_examples": len(texts), **classification_scores(gold, predicted, labels)}


@step("evaluation")
def evaluate_model(
    model_dir: str, dataset_dir: str, max_length: int, batch_size: int, task: TaskName, mixed_precision: MixedPrecision,
    out_dir: str,
) -> str:  # fmt: skip
    """Score the saved model on each evaluation split, on the device and in the precision training
    chose; write metrics.json, evaluated_on.json and predictions/<split>.{txt,csv}."""
    # Heavy: imported where used, so the flow module and cached runs start fast.
    import datasets
    import torch
    from transformers import AutoModelForSequenceClassification, AutoModelForTokenClassification

    head = AutoModelForTokenClassification if task == "ner" else AutoModelForSequenceClassification
    device, precision = compute_device(), resolve_precision(mixed_precision)
    model = head.from_pretrained(model_dir).to(device).eval()
    tokenizer = load_tokenizer(model_dir)
    dataset = datasets.load_from_disk(dataset_dir)
    score = score_words if task == "ner" else score_texts
    metrics, seconds = {}, {}
    with building(Path(out_dir)) as partial, torch.inference_mode(), autocast(device, precision):
        (partial / PREDICTIONS).mkdir()
        for split in (name for name in EVALUATED_SPLITS if name in dataset):
            started = time.perf_counter()
            metrics[split] = score(model, tokenizer, dataset[split], max_length, batch_size, partial / PREDICTIONS / split)
            seconds[split] = round(time.perf_counter() - started, 1)
        write_json(partial / METRICS, metrics)
        write_json(partial / EVALUATED_ON, {"device": device.type, "mixed_precision": precision, "seconds": seconds})
    return out_dir


"""evaluate: per-word seqeval scores of the saved model on validation and test, and CoNLL predictions."""

from pathlib import Path

import datasets
import torch
from prefect import task
from tqdm.auto import tqdm

from tasks.artifacts import OutDirKey, Step, building, write_json
from tasks.metrics import seqeval_scores
from tasks.pretrained import load_tokenizer

METRICS = "metrics.json"
PREDICTIONS = "predictions"
EVALUATED_SPLITS = ("validation", "test")


def word_predictions(word_ids: list[int | None], token_predictions: list[int], num_words: int, outside: int) -> list[int]:
    """One prediction per word, from its first sub-word; words cut off by truncation get ``outside``."""
    predicted = [outside] * num_words
    previous = None
    for word, prediction in zip(word_ids, token_predictions):
        if word is not None and word != previous:
            predicted[word] = prediction
        previous = word
    return predicted


@torch.inference_mode()
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


@task(cache_policy=OutDirKey(), persist_result=True, result_serializer="json")
def evaluate_model(model_dir: str, dataset_dir: str, max_length: int, batch_size: int, out_dir: str) -> str:
    """Score the saved model on each evaluation split; write metrics.json and predictions/<split>.txt."""
    from transformers import AutoModelForTokenClassification  # heavy: imported where used
    model = AutoModelForTokenClassification.from_pretrained(model_dir).eval()
    tokenizer = load_tokenizer(model_dir)
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    dataset = datasets.load_from_disk(dataset_dir)
    metrics = {}
    with building(Path(out_dir)) as partial:
        (partial / PREDICTIONS).mkdir()
        for split in (name for name in EVALUATED_SPLITS if name in dataset):
            sentences = list(dataset[split]["tokens"])
            gold_names = dataset[split].features["ner_tags"].feature.names
            gold = [[gold_names[tag] for tag in row] for row in dataset[split]["ner_tags"]]
            predicted_ids = predict_words(model, tokenizer, sentences, max_length, batch_size)
            predicted = [[labels[tag] for tag in row] for row in predicted_ids]
            metrics[split] = {"num_sentences": len(sentences), **seqeval_scores(gold, predicted)}
            (partial / PREDICTIONS / f"{split}.txt").write_text("\n".join(conll_lines(sentences, gold, predicted)))
        write_json(partial / METRICS, metrics)
    return out_dir


EVALUATE = Step(evaluate_model, "evaluation", version=1)

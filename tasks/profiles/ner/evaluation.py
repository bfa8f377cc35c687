"""NER's part of evaluate: one prediction per word (its first sub-word), seqeval scores, CoNLL text."""

from pathlib import Path

import datasets
from tqdm.auto import tqdm

from tasks.metrics import NO_ENTITY, entity_type_confusion, seqeval_scores
from tasks.profiles import label_names


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


def score(model, tokenizer, rows: datasets.Dataset, max_length: int, batch_size: int, predictions: Path) -> dict:
    """Seqeval scores per word and the entity types confused, per word; writes ``<split>.txt`` in CoNLL format."""
    labels = label_names(model)
    sentences = list(rows["tokens"])
    gold_names = rows.features["ner_tags"].feature.names
    gold = [[gold_names[tag] for tag in row] for row in rows["ner_tags"]]
    predicted = [[labels[tag] for tag in row] for row in predict_words(model, tokenizer, sentences, max_length, batch_size)]
    predictions.with_suffix(".txt").write_text("\n".join(conll_lines(sentences, gold, predicted)))
    return {
        "num_sentences": len(sentences), **seqeval_scores(gold, predicted),
        "entity_confusion": entity_type_confusion(gold, predicted),
    }  # fmt: skip


def draw_figures(split: str, scores: dict, out: Path) -> list[dict]:
    """F1 per entity type, and gold against predicted entity types per word, missed and spurious included."""
    from tasks.plots import confusion_heatmap, f1_bars

    name = split.capitalize()
    f1_bars(scores["per_type"], f"{name} F1 per entity type", out / "f1_per_type.png")
    confusion = scores["entity_confusion"]
    title = f"{name} words by entity type"
    confusion_heatmap(confusion["labels"], confusion["rows_gold_columns_predicted"], title, out / "confusion.png")
    return [
        {"file": "f1_per_type.png", "title": f"{name} F1 per entity type", "section": "evaluation"},
        {"file": "confusion.png", "title": f"{title}: a gold type predicted as '{NO_ENTITY}' is a missed entity, "
         f"'{NO_ENTITY}' predicted as a type a spurious one", "section": "evaluation"},
    ]  # fmt: skip

"""NER's part of evaluate: one prediction per word (its first sub-word), seqeval and SemEval scores, CoNLL text."""

from dataclasses import dataclass
from pathlib import Path

import datasets
from tqdm.auto import tqdm

from tasks.data.context import document_ids, plan_readings
from tasks.data.tag_schemes import from_iob2
from tasks.data.windows import plan_windows
from tasks.profiles import Scoring, label_names
from tasks.reports.mistakes import counts, ner_mistakes, write_mistakes
from tasks.scores.metrics import (
    MISTAKES,
    NO_ENTITY,
    PARTIAL_MATCH,
    entity_type_confusion,
    partial_match_scores,
    seqeval_scores,
)


def word_predictions(word_ids: list[int | None], token_predictions: list, num_words: int, outside) -> list:
    """One prediction per word of a window, from its first sub-word; a word cut off by truncation (only a
    single word longer than max_length can be) gets ``outside``."""
    predicted = [outside] * num_words
    previous = None
    for word, prediction in zip(word_ids, token_predictions):
        if word is not None and word != previous:
            predicted[word] = prediction
        previous = word
    return predicted


@dataclass
class WordPredictions:
    """Per sentence, each word's label id and that label's probability; and how many sentences were longer than
    max_length."""

    labels: list[list[int]]
    scores: list[list[float]]
    windowed: int
    distributions: list[list[list[float]]] | None = None  # every label's probability per word, when asked for


def predict_words(
    model,
    tokenizer,
    sentences: list[list[str]],
    scoring: Scoring,
    documents: list | None = None,
    distributions: bool = False,
) -> WordPredictions:
    """Label ids and their probabilities per word for every sentence (with ``distributions``, every label's),
    read as `tasks.data.context` says (with the sentences around it in its document, ``documents`` giving each
    sentence's): a reading longer than max_length is predicted in windows, each word from the window where it
    has the most context. Windows of similar length are batched together."""
    outside = model.config.label2id.get("O", 0)
    tokenization = scoring.tokenization
    plan = plan_readings(tokenizer, sentences, documents, tokenization)
    readings = plan.readings
    windows = plan_windows(
        tokenizer, [reading.words for reading in readings], tokenization.max_length, tokenization.window_stride
    )
    pieces = [
        (number, index, start, end)
        for number, planned in enumerate(windows)
        for index, (start, end) in enumerate(planned.windows)
    ]
    pieces.sort(key=lambda piece: piece[3] - piece[2])
    predicted = [[outside] * len(words) for words in sentences]
    scores = [[0.0] * len(words) for words in sentences]
    every: list[list[list[float]]] | None = [[[] for _ in words] for words in sentences] if distributions else None
    for first in tqdm(range(0, len(pieces), scoring.batch_size), desc=scoring.progress, unit="batch"):
        batch = pieces[first : first + scoring.batch_size]
        encoded = tokenizer(
            [readings[number].words[start:end] for number, _, start, end in batch],
            is_split_into_words=True,
            truncation=True,
            max_length=tokenization.max_length,
            padding=True,
            return_tensors="pt",
        )
        logits = model(**{key: value.to(model.device) for key, value in encoded.items()}).logits
        probabilities = logits.float().softmax(dim=-1)
        best, ids = probabilities.max(dim=-1)
        for position, (number, index, start, end) in enumerate(batch):
            reading, word_ids = readings[number], encoded.word_ids(position)
            window = word_predictions(word_ids, ids[position].tolist(), end - start, outside)
            window_scores = word_predictions(word_ids, best[position].tolist(), end - start, 0.0)
            rows = word_predictions(word_ids, probabilities[position].tolist(), end - start, []) if every else None
            for word, (prediction, score) in enumerate(zip(window, window_scores), start):
                own = reading.own(word)
                if own is not None and windows[number].owners[word] == index:
                    predicted[reading.row][own], scores[reading.row][own] = prediction, score
                    if every is not None and rows is not None:
                        every[reading.row][own] = rows[word - start]
    return WordPredictions(predicted, scores, plan.long_rows, every)


def conll_lines(sentences: list[list[str]], gold: list[list[str]], predicted: list[list[str]]) -> list[str]:
    """``word gold predicted`` per line, a blank line after each sentence: what conlleval reads."""
    lines = []
    for words, gold_tags, predicted_tags in zip(sentences, gold, predicted):
        lines += [f"{word} {g} {p}" for word, g, p in zip(words, gold_tags, predicted_tags)]
        lines.append("")
    return lines


def score(model, tokenizer, rows: datasets.Dataset, scoring: Scoring, predictions: Path, errors: Path) -> dict:
    """Seqeval scores per word (IOB2, by conlleval's and by strict rules), SemEval's partial matches, the
    entity types confused, per word, and the mistakes counted by kind; writes ``<split>.txt`` in CoNLL format,
    in the training data's tag scheme, and the wrong sentences as JSON lines at ``errors`` (`tasks.reports.mistakes`)."""
    labels = label_names(model)
    sentences = list(rows["tokens"])
    gold_names = rows.features["ner_tags"].feature.names
    gold = [[gold_names[tag] for tag in row] for row in rows["ner_tags"]]
    words = predict_words(model, tokenizer, sentences, scoring, document_ids(rows))
    predicted = [[labels[tag] for tag in row] for row in words.labels]
    scheme = scoring.tag_scheme or "IOB2"
    written = [[from_iob2(tags, scheme) for tags in sequences] for sequences in (gold, predicted)]
    predictions.with_suffix(".txt").write_text("\n".join(conll_lines(sentences, *written)))
    mistakes = ner_mistakes(sentences, gold, predicted, words.scores)
    write_mistakes(mistakes, errors, rows["line"] if "line" in rows.column_names else None)
    return {
        "num_sentences": len(sentences),
        "windowed_sentences": words.windowed,
        **seqeval_scores(gold, predicted),
        PARTIAL_MATCH: partial_match_scores(gold, predicted),
        "entity_confusion": entity_type_confusion(gold, predicted),
        MISTAKES: counts(mistakes, len(sentences)),
    }


def draw_figures(split: str, scores: dict, out: Path) -> list[dict]:
    """F1 per entity type, and gold against predicted entity types per word, missed and spurious included."""
    from tasks.reports.plots import confusion_heatmap, f1_bars

    name = split.capitalize()
    f1_bars(scores["per_type"], f"{name} F1 per entity type", out / "f1_per_type.png")
    confusion = scores["entity_confusion"]
    title = f"{name} words by entity type"
    confusion_heatmap(confusion["labels"], confusion["rows_gold_columns_predicted"], title, out / "confusion.png")
    return [
        {"file": "f1_per_type.png", "title": f"{name} F1 per entity type", "section": "evaluation"},
        {
            "file": "confusion.png",
            "title": f"{title}: a gold type predicted as '{NO_ENTITY}' is a missed entity, "
            f"'{NO_ENTITY}' predicted as a type a spurious one",
            "section": "evaluation",
        },
    ]

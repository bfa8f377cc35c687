"""Sequence classification's part of training: how batches are padded and how validation is scored."""

from tasks.scores.metrics import classification_scores


def collator(tokenizer):
    from transformers import DataCollatorWithPadding

    return DataCollatorWithPadding(tokenizer)


def validation_scores(predicted: list[int], gold: list[int], labels: list[str]) -> dict:
    return classification_scores(gold, predicted, labels)

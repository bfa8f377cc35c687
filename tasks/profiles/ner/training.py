"""NER's part of training: how batches are padded and how validation is scored."""

from tasks.scores.metrics import seqeval_scores, to_tag_sequences


def collator(tokenizer):
    from transformers import DataCollatorForTokenClassification

    return DataCollatorForTokenClassification(tokenizer)


def validation_scores(predicted: list[list[int]], gold: list[list[int]], labels: list[str]) -> dict:
    return seqeval_scores(*to_tag_sequences(predicted, gold, labels))

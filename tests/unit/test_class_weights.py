"""Class weights: the weight of each label (pure), and the weighted cross-entropy both engines train with."""

import math
from types import SimpleNamespace

import datasets
import numpy as np
import pytest
import torch

from tasks.engines.common import class_weight_vector, label_counts, weighted_loss
from tasks.engines.trainer import class_weighted_loss
from tasks.errors import PipelineError

CONLL_LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
# Two tokenized NER rows: special tokens and continuation sub-words are -100.
NER_ROWS = datasets.Dataset.from_dict({"labels": [[-100, 0, 0, 1, 2, 0, -100], [-100, 5, 0, 0, 1, -100]]})


def test_label_counts_count_labelled_tokens_or_examples():
    assert label_counts(NER_ROWS, len(CONLL_LABELS)) == [5, 2, 1, 0, 0, 1, 0, 0, 0]
    examples = datasets.Dataset.from_dict({"labels": [1, 0, 1, 1]})
    assert label_counts(examples, 2) == [1, 3]


def test_balanced_weights_follow_scikit_learns_rule_over_the_labels_training_has():
    from sklearn.utils.class_weight import compute_class_weight

    counts = label_counts(NER_ROWS, len(CONLL_LABELS))
    weights = class_weight_vector("balanced", CONLL_LABELS, counts)
    # 9 labelled tokens over the 4 labels they have: n / (k * count).
    assert weights == pytest.approx([9 / 20, 9 / 8, 9 / 4, 1.0, 1.0, 9 / 4, 1.0, 1.0, 1.0])
    tokens = [label for row in NER_ROWS["labels"] for label in row if label != -100]
    present = sorted(set(tokens))
    expected = compute_class_weight("balanced", classes=np.array(present), y=tokens)
    assert [weights[label] for label in present] == pytest.approx(list(expected))
    # Over the training tokens the weights average 1: the loss keeps its scale.
    assert sum(weights[label] for label in tokens) == pytest.approx(len(tokens))


def test_none_is_the_unweighted_loss_and_a_mapping_weighs_the_labels_it_names():
    counts = [5, 2, 1]
    assert class_weight_vector("none", ["O", "B-PER", "I-PER"], counts) is None
    assert class_weight_vector({"B-PER": 3.0, "I-PER": 0.5}, ["O", "B-PER", "I-PER"], counts) == [1.0, 3.0, 0.5]


def test_a_weight_for_a_label_the_data_lacks_names_it_and_the_labels_there_are():
    with pytest.raises(
        PipelineError,
        match=r"^class_weights names label 'B-CITY', which the data lacks; its labels are O, B-PER, I-PER$",
    ):
        class_weight_vector({"O": 1.0, "B-CITY": 2.0}, ["O", "B-PER", "I-PER"], [5, 2, 1])


def cross_entropy_by_hand(logits: list[list[float]], labels: list[int], weights: list[float]) -> float:
    """sum of w[y] * -log softmax(logits)[y] over the labelled positions, over the sum of their w[y]."""
    total = weight_sum = 0.0
    for row, label in zip(logits, labels):
        if label == -100:
            continue
        log_sum = math.log(sum(math.exp(value) for value in row))
        total += weights[label] * (log_sum - row[label])
        weight_sum += weights[label]
    return total / weight_sum


def test_the_weighted_loss_is_the_weighted_mean_of_the_cross_entropies():
    logits = [[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [1.0, -2.0, 0.0], [0.0, 3.0, 1.0]]
    labels, weights = [0, 2, -100, 1], [0.5, 2.0, 4.0]
    expected = cross_entropy_by_hand(logits, labels, weights)
    # NER's shape (batch, tokens, labels) and classification's (examples, labels).
    for shape in ((1, 4, 3), (4, 3)):
        outputs = SimpleNamespace(logits=torch.tensor(logits).reshape(shape), loss=None)
        loss = weighted_loss(outputs, torch.tensor(labels).reshape(shape[:-1]), weights)
        assert loss.item() == pytest.approx(expected, rel=1e-6)


def one_batch(tokenizer, task: str) -> dict:
    encoded = tokenizer(["Ann lives in Paris .", "He saw Bob"], padding=True, return_tensors="pt")
    if task == "ner":
        labels = torch.tensor([[-100, 1, 0, 0, 2, 0, -100], [-100, 0, 0, 1, -100, -100, -100]])
        return {**encoded, "labels": labels[:, : encoded["input_ids"].shape[1]]}
    return {**encoded, "labels": torch.tensor([2, 0])}


@pytest.mark.parametrize("task", ["ner", "sequence-classification"])
def test_without_weights_both_engines_keep_the_models_own_loss(task, tiny_model, tmp_path):
    from transformers import AutoTokenizer, Trainer, TrainingArguments

    from tasks.engines.common import load_model
    from tasks.pretrained import ModelSource

    labels = ["O", "B-PER", "I-PER"]
    # A seeded new head: from some heads' near-even logits, these weights move the loss by less than 1e-3.
    torch.manual_seed(0)
    model = load_model(ModelSource(kind="local", location=str(tiny_model)), labels, task).eval()
    batch = one_batch(AutoTokenizer.from_pretrained(tiny_model), task)
    with torch.no_grad():
        outputs = model(**batch)
    # The Accelerate loop's loss: the model's own without weights; with weights of 1, the same number.
    assert weighted_loss(outputs, batch["labels"], None) is outputs.loss
    assert weighted_loss(outputs, batch["labels"], [1.0] * 3).item() == pytest.approx(outputs.loss.item(), rel=1e-6)
    # The Trainer's: no compute_loss_func without weights; with weights of 1, the model's own loss again.
    assert class_weighted_loss(None) is None
    arguments = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to=[])
    trainer = Trainer(model=model, args=arguments, compute_loss_func=class_weighted_loss([1.0] * 3))
    with torch.no_grad():
        assert trainer.compute_loss(model, dict(batch)).item() == pytest.approx(outputs.loss.item(), rel=1e-6)
        trainer.compute_loss_func = class_weighted_loss([0.5, 2.0, 3.0])
        weighed = trainer.compute_loss(model, dict(batch)).item()
    assert weighed == pytest.approx(weighted_loss(outputs, batch["labels"], [0.5, 2.0, 3.0]).item(), rel=1e-6)
    assert weighed != pytest.approx(outputs.loss.item(), rel=1e-3)

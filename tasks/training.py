"""train: fine-tune a token- or sequence-classification head with the Trainer, keep the best epoch by F1."""

import time
from pathlib import Path
from typing import TYPE_CHECKING

import datasets
import torch
import transformers
from prefect import task

from tasks.artifacts import OutDirKey, Step, building, checkpoint_dir, read_json, remove_checkpoints, write_json
from tasks.config import TaskName, TrainingConfig
from tasks.errors import PipelineError
from tasks.metrics import IGNORED, argmax_logits, classification_trainer_metrics, trainer_metrics
from tasks.pretrained import ModelSource, load_tokenizer
from tasks.tokenization import SUMMARY as TOKENIZE_SUMMARY

if TYPE_CHECKING:
    from transformers import Trainer, TrainingArguments

HISTORY = "training_history.json"
SUMMARY = "train_summary.json"


def check_label_ids(dataset: datasets.DatasetDict, labels: list[str], num_labels: int) -> None:
    """Fail before training when a label id cannot index the classifier's outputs: the
    usual cause of CUDA "device-side assert triggered" errors."""
    for split, rows in dataset.items():
        for row, label_ids in enumerate(rows["labels"]):
            label_ids = label_ids if isinstance(label_ids, list) else [label_ids]
            bad = [label for label in label_ids if label != IGNORED and not 0 <= label < num_labels]
            if bad:
                name = labels[bad[0]] if 0 <= bad[0] < len(labels) else "unnamed"
                raise PipelineError(
                    f"split '{split}' row {row}: label id {bad[0]} ({name}) is outside the model's "
                    f"{num_labels} labels ({', '.join(labels[:num_labels])})"
                )


# The Trainer stack takes seconds to import: it is imported in the functions that use it,
# so the CLI, the flow module and fully cached runs start fast.


def training_arguments(training: TrainingConfig, output_dir: Path) -> "TrainingArguments":
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=str(output_dir),
        learning_rate=training.learning_rate,
        num_train_epochs=training.epochs,
        per_device_train_batch_size=training.batch_size,
        per_device_eval_batch_size=training.eval_batch_size,
        weight_decay=training.weight_decay,
        warmup_steps=training.warmup_ratio,
        lr_scheduler_type=training.lr_scheduler,
        # Batches of similar lengths waste less compute on padding.
        train_sampling_strategy="group_by_length",
        eval_strategy="epoch",
        save_strategy="epoch",
        save_total_limit=1,
        load_best_model_at_end=True,
        metric_for_best_model="f1",
        greater_is_better=True,
        logging_strategy="steps",
        logging_steps=25,
        report_to="none",
        seed=training.seed,
        dataloader_pin_memory=torch.cuda.is_available(),
    )


def load_model(model: ModelSource, labels: list[str], task: TaskName):
    from transformers import AutoModelForSequenceClassification, AutoModelForTokenClassification

    head = AutoModelForTokenClassification if task == "ner" else AutoModelForSequenceClassification
    return head.from_pretrained(
        model.location,
        revision=model.revision,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )


def fit(model, tokenizer, dataset: datasets.DatasetDict, labels: list[str], args: "TrainingArguments", task: TaskName) -> "Trainer":
    from transformers import DataCollatorForTokenClassification, DataCollatorWithPadding, Trainer

    ner = task == "ner"
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=dataset["train"],
        eval_dataset=dataset["validation"],
        data_collator=DataCollatorForTokenClassification(tokenizer) if ner else DataCollatorWithPadding(tokenizer),
        processing_class=tokenizer,
        compute_metrics=trainer_metrics(labels) if ner else classification_trainer_metrics(labels),
        preprocess_logits_for_metrics=argmax_logits,
    )
    trainer.train()
    return trainer


def _summary(trainer: "Trainer", training: TrainingConfig, model: ModelSource, dataset, seconds: float) -> dict:
    return {
        "base_model": model.hub_id or model.location,
        "hyperparameters": training,
        "num_rows": {split: len(rows) for split, rows in dataset.items()},
        "best_metric": {"name": "validation f1", "value": trainer.state.best_metric},
        "best_epoch": next(
            (entry["epoch"] for entry in trainer.state.log_history if entry.get("eval_f1") == trainer.state.best_metric),
            None,
        ),
        "train_seconds": round(seconds, 1),
    }


@task(cache_policy=OutDirKey(), persist_result=True, result_serializer="json")
def train_model(tokenized_dir: str, model: ModelSource, training: TrainingConfig, task: TaskName, out_dir: str) -> str:
    """Fine-tune and save the best epoch's model with its tokenizer, history and summary.

    Epoch checkpoints go to a sibling ``checkpoints/`` directory that survives a failed
    run and is removed once the model is saved.
    """
    labels = read_json(Path(tokenized_dir) / TOKENIZE_SUMMARY)["labels"]
    dataset = datasets.load_from_disk(tokenized_dir)
    tokenizer = load_tokenizer(model)
    transformers.set_seed(training.seed)
    network = load_model(model, labels, task)
    check_label_ids(dataset, labels, network.config.num_labels)
    checkpoints = checkpoint_dir(Path(out_dir))
    started = time.perf_counter()
    trainer = fit(network, tokenizer, dataset, labels, training_arguments(training, checkpoints), task)
    seconds = time.perf_counter() - started
    with building(Path(out_dir)) as partial:
        trainer.save_model(str(partial))
        write_json(partial / HISTORY, trainer.state.log_history)
        write_json(partial / SUMMARY, _summary(trainer, training, model, dataset, seconds))
    remove_checkpoints(Path(out_dir))
    return out_dir


TRAIN = Step(train_model, "model", version=1)

"""The transformers Trainer engine: evaluation each epoch, the best epoch by validation F1 kept."""

import time
from pathlib import Path

import torch

from tasks.engines.common import (
    TrainInputs, TrainRequest, data_collator, distributed_on_cpu, load_inputs, write_records,
)  # fmt: skip
from tasks.hardware import resolve_precision
from tasks.metrics import argmax_logits, classification_trainer_metrics, trainer_metrics


def training_arguments(request: TrainRequest):
    from transformers import TrainingArguments

    training = request.training
    precision = resolve_precision(training.mixed_precision)
    return TrainingArguments(
        output_dir=request.checkpoints,
        learning_rate=training.learning_rate,
        num_train_epochs=training.epochs,
        per_device_train_batch_size=training.batch_size,
        per_device_eval_batch_size=training.eval_batch_size,
        gradient_accumulation_steps=training.gradient_accumulation_steps,
        weight_decay=training.weight_decay,
        warmup_steps=training.warmup_ratio,
        lr_scheduler_type=training.lr_scheduler,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        # The Trainer asks for use_cpu before it will form a gloo group or compute in bf16 on CPU.
        use_cpu=distributed_on_cpu() or (precision == "bf16" and not torch.cuda.is_available()),
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


def build_trainer(request: TrainRequest, inputs: TrainInputs):
    from transformers import Trainer

    ner = request.task == "ner"
    return Trainer(
        model=inputs.model,
        args=training_arguments(request),
        train_dataset=inputs.dataset["train"],
        eval_dataset=inputs.dataset["validation"],
        data_collator=data_collator(request.task, inputs.tokenizer),
        processing_class=inputs.tokenizer,
        compute_metrics=trainer_metrics(inputs.labels) if ner else classification_trainer_metrics(inputs.labels),
        preprocess_logits_for_metrics=argmax_logits,
    )


def last_checkpoint(checkpoints: str) -> str | None:
    """The newest checkpoint the Trainer finished writing: it writes ``trainer_state.json`` last, so a
    folder without it is one a killed run left half-written (transformers' ``get_last_checkpoint``
    would pick it)."""
    from transformers.trainer import TRAINER_STATE_NAME
    from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

    complete = [
        folder for folder in Path(checkpoints).glob(f"{PREFIX_CHECKPOINT_DIR}-*")
        if folder.name.split("-")[-1].isdigit() and (folder / TRAINER_STATE_NAME).is_file()
    ]  # fmt: skip
    return str(max(complete, key=lambda folder: int(folder.name.split("-")[-1]))) if complete else None


def train_with_trainer(request: TrainRequest) -> None:
    """Train, and save the best epoch's model, tokenizer, history and summary to ``request.output``."""
    inputs = load_inputs(request)
    trainer = build_trainer(request, inputs)
    checkpoint = last_checkpoint(request.checkpoints) if request.resume else None
    if checkpoint and trainer.is_world_process_zero():
        print(f"Resuming from {checkpoint}", flush=True)
    started = time.perf_counter()
    trainer.train(resume_from_checkpoint=checkpoint)
    seconds = time.perf_counter() - started
    trainer.save_model(request.output)
    if trainer.is_world_process_zero():
        state = trainer.state
        best_epoch = next((e["epoch"] for e in state.log_history if e.get("eval_f1") == state.best_metric), None)
        write_records(
            request, inputs, state.log_history, {"value": state.best_metric, "epoch": best_epoch},
            {"engine": "trainer", "processes": trainer.args.world_size, "device": trainer.args.device.type,
             "mixed_precision": resolve_precision(request.training.mixed_precision), "train_seconds": round(seconds, 1)},
        )  # fmt: skip

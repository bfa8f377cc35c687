"""The Accelerate engine: the Hugging Face course's custom training loop (chapter 3 section 4,
chapter 7 section 2), with epoch checkpoints to resume from and the best epoch kept."""

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch.utils.data import DataLoader

from tasks.config.training import TrainingConfig
from tasks.engines.common import (
    TrainInputs,
    TrainRequest,
    distributed_on_cpu,
    early_stopping_record,
    load_inputs,
    tracking_facts,
    weighted_loss,
    write_records,
)
from tasks.engines.loop_checkpoints import best_folder, last_complete_checkpoint, load_best, save_best, save_checkpoint
from tasks.engines.loop_tracking import finish_tracking, start_tracking, track
from tasks.hardware import resolve_precision
from tasks.profiles import profile_of
from tasks.progress import note_progress, progress_at
from tasks.scores.metrics import IGNORED
from tasks.scores.run_metric import metric_value, scored_names
from tasks.storage.catalog import CHECKPOINT_PROGRESS, TENSORBOARD
from tasks.storage.files import read_json

if TYPE_CHECKING:  # accelerate itself is imported only where used, as in build_accelerator
    from accelerate.scheduler import AcceleratedScheduler

LOGGING_STEPS = 25


@dataclass(frozen=True)
class LoopParts:
    """What `accelerator.prepare` returns, by name."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    train_loader: DataLoader
    eval_loader: DataLoader
    scheduler: "AcceleratedScheduler"


@dataclass(frozen=True)
class LoopRun:
    """A training run's progress and its schedule."""

    progress: dict  # step, epoch, history and best: what each checkpoint saves and --resume reads back
    per_epoch: int  # optimizer steps in an epoch
    total: int  # optimizer steps in the whole run
    started: float  # time.perf_counter() when this process began training, for elapsed_seconds


def build_accelerator(request: TrainRequest):
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    # One process may train several times (tests, notebooks): start from a clean shared state so
    # an earlier run's precision or device choice does not leak into this one.
    AcceleratorState._reset_state(reset_partial_state=True)
    report_to = request.training.report_to
    return Accelerator(
        cpu=distributed_on_cpu(),
        mixed_precision=resolve_precision(request.training.mixed_precision),
        gradient_accumulation_steps=request.training.gradient_accumulation_steps,
        log_with=None if report_to == "none" else report_to,
        project_dir=str(Path(request.output) / TENSORBOARD) if report_to == "tensorboard" else None,
    )


class LengthGroupedSampler(torch.utils.data.Sampler):
    """A random order in which each batch holds examples of similar length, as the Trainer's
    ``group_by_length`` (padding to the batch's longest wastes less compute), reshuffled with
    seed + epoch so that a resumed run sees the batches an uninterrupted one would."""

    def __init__(self, lengths: list[int], batch_size: int, seed: int):
        self.lengths, self.batch_size, self.seed, self.epoch = lengths, batch_size, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self):
        from transformers.trainer_pt_utils import get_length_grouped_indices

        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(get_length_grouped_indices(self.lengths, self.batch_size, generator=generator))


def dataloaders(request: TrainRequest, inputs: TrainInputs) -> tuple[DataLoader, DataLoader]:
    collate = profile_of(request.task).training.collator(inputs.tokenizer)
    training = request.training
    rows = inputs.dataset["train"]
    sampler = LengthGroupedSampler([len(ids) for ids in rows["input_ids"]], training.batch_size, training.seed)
    train = DataLoader(rows, sampler=sampler, collate_fn=collate, batch_size=training.batch_size)
    validation = DataLoader(inputs.dataset["validation"], collate_fn=collate, batch_size=training.eval_batch_size)
    return train, validation


def optimizer_and_schedule(request: TrainRequest, model, steps: int):
    from transformers import get_scheduler

    training = request.training
    # As the Trainer does: no weight decay on biases and LayerNorm weights.
    decayed = [parameter for parameter in model.parameters() if parameter.ndim > 1]
    exempt = [parameter for parameter in model.parameters() if parameter.ndim <= 1]
    # Fused, the Trainer's default: one kernel for all parameters, six times faster per step on CPU.
    optimizer = torch.optim.AdamW(
        [{"params": decayed, "weight_decay": training.weight_decay}, {"params": exempt, "weight_decay": 0.0}],
        lr=training.learning_rate,
        fused=True,
    )
    scheduler = get_scheduler(
        training.lr_scheduler,
        optimizer,
        num_warmup_steps=math.ceil(training.warmup_ratio * steps),
        num_training_steps=steps,
    )
    return optimizer, scheduler


def evaluate(accelerator, model, loader, request: TrainRequest, inputs: TrainInputs) -> dict:
    """Validation loss and scores, each example counted once across processes."""
    model.eval()
    profile = profile_of(request.task)
    gold, predicted, losses = [], [], []
    for batch in loader:
        with torch.no_grad():
            outputs = model(**batch)
        predictions, references = outputs.logits.argmax(dim=-1), batch["labels"]
        if profile.per_token:
            # Processes pad their batches to different lengths: equalise before gathering.
            predictions = accelerator.pad_across_processes(predictions, dim=1, pad_index=IGNORED)
            references = accelerator.pad_across_processes(references, dim=1, pad_index=IGNORED)
        batch_loss = weighted_loss(outputs, batch["labels"], inputs.class_weights).detach().repeat(len(references))
        predictions, references, batch_loss = accelerator.gather_for_metrics((predictions, references, batch_loss))
        predicted += predictions.tolist()
        gold += references.tolist()
        losses.append(batch_loss)
    scores = profile.training.validation_scores(predicted, gold, inputs.labels)
    model.train()
    return {
        "eval_loss": torch.cat(losses).float().mean().item(),
        **{
            f"eval_{name}": metric_value(scores, name)
            for name in scored_names(profile.metrics, request.training.metric)
        },
        "eval_examples": len(gold),
    }


def start_progress(accelerator, request: TrainRequest) -> dict:
    """Where training starts: the last complete checkpoint when resuming, else the beginning. The best
    evaluation so far may be newer than that checkpoint: it is kept as the one to beat."""
    checkpoints = Path(request.checkpoints)
    checkpoint = last_complete_checkpoint(checkpoints) if request.resume else None
    if checkpoint is None:
        return {
            "epoch": 0,
            "step": 0,
            "history": [],
            "best": {"value": None, "epoch": None, "step": None},
            "unimproved": 0,
            "stopped": False,
        }
    accelerator.load_state(str(checkpoint))
    accelerator.print(f"Resuming from {checkpoint}")
    progress = {
        "unimproved": 0,
        "stopped": False,
        **read_json(checkpoint / CHECKPOINT_PROGRESS),
    }  # a checkpoint of before early stopping
    best_record = best_folder(checkpoints) / CHECKPOINT_PROGRESS
    return {**progress, "best": read_json(best_record)} if best_record.is_file() else progress


def _log_loss(accelerator, window: list, scheduler, step: int, per_epoch: int) -> dict:
    loss = accelerator.reduce(torch.stack(window).float().mean(), reduction="mean").item()
    return {
        "loss": loss,
        "learning_rate": scheduler.get_last_lr()[0],
        "epoch": round(step / per_epoch, 4),
        "step": step,
    }


def note(accelerator, request: TrainRequest, run: LoopRun) -> None:
    """The main process notes the step and the last validation F1 for the train step to show."""
    if accelerator.is_main_process:
        progress = run.progress
        epoch = round(progress["step"] / run.per_epoch, 4)
        note_progress(
            Path(request.checkpoints),
            progress_at(progress["history"], progress["step"], run.total, epoch, accelerator.process_index),
        )


def count_unimproved(progress: dict, value: float, training: TrainingConfig) -> None:
    """Early stopping's count, as the Trainer's EarlyStoppingCallback keeps it: the validation passes in a row
    whose metric did not rise over the best so far by more than the threshold; at the patience, training stops."""
    best = progress["best"]["value"]
    improved = best is None or value - best > training.early_stopping_threshold
    progress["unimproved"] = 0 if improved else progress["unimproved"] + 1
    patience = training.early_stopping_patience
    progress["stopped"] = patience is not None and progress["unimproved"] >= patience


def evaluate_and_keep_best(
    accelerator, request: TrainRequest, inputs: TrainInputs, parts: LoopParts, run: LoopRun
) -> None:
    """Score the model on validation, note it in the history, count it for early stopping and keep its weights
    when it is the best so far by the run's metric."""
    model, progress, step = parts.model, run.progress, run.progress["step"]
    scores = evaluate(accelerator, model, parts.eval_loader, request, inputs)
    entry = {
        **scores,
        "epoch": round(step / run.per_epoch, 4),
        "step": step,
        "elapsed_seconds": round(time.perf_counter() - run.started, 3),
    }
    progress["history"].append(entry)
    track(accelerator, request, entry)
    value = scores[f"eval_{request.training.metric}"]
    count_unimproved(progress, value, request.training)
    if progress["best"]["value"] is None or value > progress["best"]["value"]:
        progress["best"] = {"value": value, "epoch": entry["epoch"], "step": step}
        save_best(accelerator, model, Path(request.checkpoints), progress["best"])
    note(accelerator, request, run)


def end_epoch(accelerator, request: TrainRequest, inputs: TrainInputs, parts: LoopParts, run: LoopRun) -> None:
    """The validation pass that closes an epoch, unless a pass within it stopped training; a run of a single
    pass leaves it to the evaluate step, and keeps the last step's model."""
    progress = run.progress
    if progress["stopped"]:
        return
    if request.training.single_evaluation:
        progress["best"] = {
            "value": None,
            "epoch": round(progress["step"] / run.per_epoch, 4),
            "step": progress["step"],
        }
    else:
        evaluate_and_keep_best(accelerator, request, inputs, parts, run)


def run_epochs(accelerator, request: TrainRequest, inputs: TrainInputs, parts: LoopParts, progress: dict) -> dict:
    """Train from ``progress`` to the end, evaluating evals_per_epoch times an epoch and checkpointing
    after each epoch."""
    from tqdm.auto import tqdm

    model, optimizer, train_loader, scheduler = parts.model, parts.optimizer, parts.train_loader, parts.scheduler
    training = request.training
    per_epoch = math.ceil(len(train_loader) / training.gradient_accumulation_steps)
    total = math.ceil(per_epoch * training.epochs)
    every = max(1, math.ceil(per_epoch / training.evals_per_epoch))
    run = LoopRun(progress=progress, per_epoch=per_epoch, total=total, started=time.perf_counter())
    bar = tqdm(total=total, initial=progress["step"], desc="train", disable=not accelerator.is_local_main_process)
    model.train()
    # A run resumed from the checkpoint of the pass that stopped it early has no epoch left.
    for epoch in range(progress["epoch"], progress["epoch"] if progress["stopped"] else math.ceil(training.epochs)):
        train_loader.set_epoch(epoch)
        window = []
        for batch in train_loader:
            with accelerator.accumulate(model):
                loss = weighted_loss(model(**batch), batch["labels"], inputs.class_weights)
                accelerator.backward(loss)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
            window.append(loss.detach())
            if not accelerator.sync_gradients:
                continue
            progress["step"] += 1
            bar.update()
            if progress["step"] % LOGGING_STEPS == 0:
                progress["history"].append(_log_loss(accelerator, window, scheduler, progress["step"], per_epoch))
                track(accelerator, request, progress["history"][-1])
                window = []
                note(accelerator, request, run)
            if progress["step"] >= total:
                break
            if (progress["step"] - epoch * per_epoch) % every == 0 and progress["step"] % per_epoch:
                evaluate_and_keep_best(accelerator, request, inputs, parts, run)
                if progress["stopped"]:
                    break
        end_epoch(accelerator, request, inputs, parts, run)
        progress["epoch"] = epoch + 1
        save_checkpoint(accelerator, Path(request.checkpoints), progress)
        note(accelerator, request, run)
        if progress["stopped"]:
            break
    bar.close()
    return progress


def train_with_accelerate(request: TrainRequest) -> None:
    """Train, and save the best epoch's model, tokenizer, history and summary to ``request.output``."""
    accelerator = build_accelerator(request)
    inputs = load_inputs(request)
    train_loader, eval_loader = dataloaders(request, inputs)
    training = request.training
    # Counted on the loader before `prepare` splits it: the prepared scheduler steps once per process.
    steps = math.ceil(len(train_loader) * training.epochs / training.gradient_accumulation_steps)
    optimizer, scheduler = optimizer_and_schedule(request, inputs.model, steps)
    parts = LoopParts(*accelerator.prepare(inputs.model, optimizer, train_loader, eval_loader, scheduler))
    start_tracking(accelerator, request)
    started = time.perf_counter()
    progress = run_epochs(accelerator, request, inputs, parts, start_progress(accelerator, request))
    seconds = time.perf_counter() - started
    model = parts.model
    # Only the main process saves, and only it can read the best weights: a node other than node 0 keeps
    # its own checkpoints folder, into which the main process wrote nothing.
    if progress["best"]["step"] != progress["step"] and accelerator.is_main_process:
        load_best(accelerator, model, Path(request.checkpoints))
    accelerator.wait_for_everyone()
    state_dict = accelerator.get_state_dict(model)
    mlflow_run_id = finish_tracking(accelerator, request)
    if accelerator.is_main_process:
        accelerator.unwrap_model(model).save_pretrained(request.output, state_dict=state_dict)
        inputs.tokenizer.save_pretrained(request.output)
        write_records(
            request,
            inputs,
            progress["history"],
            progress["best"],
            {
                "engine": "accelerate",
                "processes": accelerator.num_processes,
                "device": accelerator.device.type,
                "mixed_precision": accelerator.mixed_precision,
                "train_seconds": round(seconds, 1),
                "early_stopping": early_stopping_record(
                    training, progress["history"], progress["stopped"], progress["best"]
                ),
                **tracking_facts(request, mlflow_run_id),
            },
        )
    accelerator.wait_for_everyone()

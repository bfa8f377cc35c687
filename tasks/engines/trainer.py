"""The transformers Trainer engine: evaluation each epoch, the best epoch by the validation metric kept."""

import math
import os
import time
from pathlib import Path

import torch

from tasks.config.training import TrainingConfig
from tasks.console import is_verbose
from tasks.engines.common import (
    TrainInputs,
    TrainRequest,
    distributed_on_cpu,
    early_stopping_record,
    is_main_process,
    load_inputs,
    tracking_facts,
    weighted_loss,
    write_records,
)
from tasks.hardware import resolve_precision
from tasks.profiles import profile_of
from tasks.progress import note_progress, progress_at
from tasks.scores.metrics import argmax_logits, trainer_metrics
from tasks.scores.run_metric import scored_names
from tasks.storage.catalog import TENSORBOARD, TRAINING_ARGUMENTS
from tasks.tracking import use_mlflow


def evaluation_schedule(request: TrainRequest, train_rows: int) -> dict:
    """When to evaluate and checkpoint: each epoch, or every 1/evals_per_epoch of an epoch's steps
    (the Trainer also evaluates the last step), keeping the best; never, in a run of a single evaluation
    (`TrainingConfig.single_evaluation`)."""
    training = request.training
    if training.single_evaluation:
        return {"eval_strategy": "no", "save_strategy": "no", "load_best_model_at_end": False}
    if training.evals_per_epoch == 1:
        return {"eval_strategy": "epoch", "save_strategy": "epoch", "load_best_model_at_end": True}
    batches = math.ceil(train_rows / (training.batch_size * int(os.environ.get("WORLD_SIZE", "1"))))
    every = max(1, math.ceil(batches / training.gradient_accumulation_steps / training.evals_per_epoch))
    return {
        "eval_strategy": "steps",
        "eval_steps": every,
        "save_strategy": "steps",
        "save_steps": every,
        "load_best_model_at_end": True,
    }


def training_arguments(request: TrainRequest, train_rows: int, weighted: bool = False):
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
        **evaluation_schedule(request, train_rows),
        save_total_limit=1,
        metric_for_best_model=training.metric,
        greater_is_better=True,
        logging_strategy="steps",
        logging_steps=25,
        # A bar (`training_bar`), though transformers would drop it for raw dicts when its logging is quiet.
        disable_tqdm=False,
        report_to=[],  # the tracking callbacks are passed to the Trainer: see tracking_callbacks
        seed=training.seed,
        dataloader_pin_memory=torch.cuda.is_available(),
        # A weighted loss is each process's batch mean (see build_trainer): not to be scaled by the process count.
        **({"average_tokens_across_devices": False} if weighted else {}),
    )


def elapsed_at_evaluations():
    """A callback that notes the seconds since training began (evaluations included) at each
    evaluation, by step: the history then shows how soon a run reached a score."""
    from transformers import TrainerCallback

    class ElapsedAtEvaluations(TrainerCallback):
        def __init__(self):
            self.started, self.seconds = time.perf_counter(), {}

        def on_train_begin(self, args, state, control, **kwargs):
            self.started = time.perf_counter()

        def on_evaluate(self, args, state, control, **kwargs):
            self.seconds[state.global_step] = round(time.perf_counter() - self.started, 3)

    return ElapsedAtEvaluations()


def progress_notes(checkpoints: str):
    """A callback by which the main process notes the step and the last validation F1 for the train step
    to show, at each log and evaluation."""
    from transformers import TrainerCallback

    class NoteProgress(TrainerCallback):
        def on_log(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                progress = progress_at(
                    state.log_history, state.global_step, state.max_steps, state.epoch or 0.0, args.process_index
                )
                note_progress(Path(checkpoints), progress)

    return NoteProgress()


def training_bar():
    """The Trainer's progress bar without what the train step says better: the raw metric dicts it writes
    under the bar at each log (the step logs one line per evaluation) and a second bar while it evaluates."""
    from transformers.trainer_callback import ProgressCallback

    class TrainingBar(ProgressCallback):
        def on_prediction_step(self, args, state, control, **kwargs):
            pass

        def on_log(self, args, state, control, logs=None, **kwargs):
            pass

    return TrainingBar()


def tracking_callbacks(request: TrainRequest) -> list:
    """The Trainer's own TensorBoard or MLflow callback, in the main process (the only one they write from),
    writing where the request says: event files into the model directory, MLflow to the request's store."""
    from transformers.integrations import MLflowCallback, TensorBoardCallback

    report_to = request.training.report_to
    if report_to == "none" or not is_main_process():
        return []
    if report_to == "tensorboard":
        from torch.utils.tensorboard import SummaryWriter

        return [TensorBoardCallback(SummaryWriter(log_dir=str(Path(request.output) / TENSORBOARD)))]
    use_mlflow(request.mlflow)
    return [MLflowCallback()]


def early_stopping(training: TrainingConfig) -> list:
    """The Trainer's own early stopping, when asked for: it counts the validation passes since the metric last
    rose by more than the threshold over the best so far, and stops the run at the patience."""
    if training.early_stopping_patience is None:
        return []
    from transformers import EarlyStoppingCallback

    return [EarlyStoppingCallback(training.early_stopping_patience, training.early_stopping_threshold)]


def class_weighted_loss(weights: list[float] | None):
    """The Trainer's ``compute_loss_func`` for class weights; None (the model's own loss) without them."""
    if weights is None:
        return None
    return lambda outputs, labels, num_items_in_batch=None: weighted_loss(outputs, labels, weights)


def build_trainer(request: TrainRequest, inputs: TrainInputs, callback):
    from transformers import Trainer
    from transformers.trainer_callback import ProgressCallback

    profile, training = profile_of(request.task), request.training
    part = profile.training
    weighted = inputs.class_weights is not None
    trainer = Trainer(
        model=inputs.model,
        args=training_arguments(request, len(inputs.dataset["train"]), weighted),
        train_dataset=inputs.dataset["train"],
        eval_dataset=inputs.dataset["validation"],
        data_collator=part.collator(inputs.tokenizer),
        processing_class=inputs.tokenizer,
        compute_metrics=trainer_metrics(
            part.validation_scores, scored_names(profile.metrics, training.metric), inputs.labels
        ),
        preprocess_logits_for_metrics=argmax_logits,
        callbacks=[
            callback,
            progress_notes(request.checkpoints),
            *tracking_callbacks(request),
            *early_stopping(training),
        ],
        compute_loss_func=class_weighted_loss(inputs.class_weights),
    )
    if not is_verbose():
        trainer.pop_callback(ProgressCallback)
        trainer.add_callback(training_bar())
    if weighted:
        # The weighted loss is a batch mean, as the Accelerate loop's: the Trainer is to divide it by the
        # accumulation steps (it takes a compute_loss_func's loss as already divided by the accumulated count).
        trainer.loss_is_scaled_for_ga = False
    return trainer


def _last_mlflow_run(request: TrainRequest) -> str | None:
    """The MLflow run the Trainer's callback just logged to (and ended)."""
    if request.training.report_to != "mlflow":
        return None
    import mlflow

    return mlflow.last_active_run().info.run_id


def last_checkpoint(checkpoints: str) -> str | None:
    """The newest checkpoint the Trainer finished writing: it writes ``trainer_state.json`` last, so a
    folder without it is one a killed run left half-written (transformers' ``get_last_checkpoint``
    would pick it)."""
    from transformers.trainer import TRAINER_STATE_NAME
    from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

    complete = [
        folder
        for folder in Path(checkpoints).glob(f"{PREFIX_CHECKPOINT_DIR}-*")
        if folder.name.split("-")[-1].isdigit() and (folder / TRAINER_STATE_NAME).is_file()
    ]
    return str(max(complete, key=lambda folder: int(folder.name.split("-")[-1]))) if complete else None


def ship_arguments_as_json(args, output: Path) -> None:
    """The Trainer's arguments as JSON (its tokens redacted), in place of the pickle it saves beside the model:
    a release ships no pickle, which could run code as it loads (and which the Hub flags)."""
    (output / "training_args.bin").unlink(missing_ok=True)
    (output / TRAINING_ARGUMENTS).write_text(args.to_json_string())


def train_with_trainer(request: TrainRequest) -> None:
    """Train, and save the best epoch's model, tokenizer, history and summary to ``request.output``."""
    inputs = load_inputs(request)
    elapsed = elapsed_at_evaluations()
    trainer = build_trainer(request, inputs, elapsed)
    checkpoint = last_checkpoint(request.checkpoints) if request.resume else None
    if checkpoint and trainer.is_world_process_zero():
        print(f"Resuming from {checkpoint}", flush=True)
    started = time.perf_counter()
    trainer.train(resume_from_checkpoint=checkpoint)
    seconds = time.perf_counter() - started
    trainer.save_model(request.output)
    if trainer.is_world_process_zero():
        ship_arguments_as_json(trainer.args, Path(request.output))
        state = trainer.state
        history = [
            {**entry, "elapsed_seconds": elapsed.seconds[entry["step"]]}
            if "eval_f1" in entry and entry["step"] in elapsed.seconds
            else entry
            for entry in state.log_history
        ]
        best_epoch = next((e["epoch"] for e in history if "eval_f1" in e and e["step"] == state.best_global_step), None)
        best = {"value": state.best_metric, "epoch": best_epoch, "step": state.best_global_step}
        if request.training.single_evaluation:
            best = {"value": None, "epoch": round(state.epoch, 4), "step": state.global_step}
        stopped = state.global_step < state.max_steps  # only early stopping ends the Trainer's run sooner
        write_records(
            request,
            inputs,
            history,
            best,
            {
                "engine": "trainer",
                "processes": trainer.args.world_size,
                "device": trainer.args.device.type,
                "mixed_precision": resolve_precision(request.training.mixed_precision),
                "train_seconds": round(seconds, 1),
                "early_stopping": early_stopping_record(request.training, history, stopped, best),
                **tracking_facts(request, _last_mlflow_run(request)),
            },
        )

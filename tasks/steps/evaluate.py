"""evaluate: scores of the saved model on validation and test, its predictions, and the run's figures.

How a split is scored and its predictions written is the task's part of this step (`tasks.profiles`).
The model is scored where and in the precision it trained (`tasks.hardware`), in batches of
similar lengths.
"""

import time
from pathlib import Path

from tasks.config.sections import MixedPrecision, TaskName, TokenizationConfig
from tasks.hardware import autocast, compute_device, resolve_precision
from tasks.pretrained import load_tokenizer
from tasks.profiles import Scoring, profile_of
from tasks.storage.artifacts import building
from tasks.storage.catalog import (
    ERRORS,
    EVALUATED_ON,
    FIGURES,
    LOAD_SUMMARY,
    METRICS,
    PLOTS,
    PREDICTIONS,
    TENSORBOARD,
    TRAIN_HISTORY,
    TRAIN_SUMMARY,
    TRAINING_CURVES,
)
from tasks.storage.files import read_json, write_json
from tasks.storage.step import step
from tasks.tracking import log_final_scores

EVALUATED_SPLITS = ("validation", "test")


def evaluated_split(metrics: dict) -> str:
    """The split a run is judged and described by: test where there is one."""
    return "test" if "test" in metrics else "validation"


def scored_history(history: list[dict], train_summary: dict, validation: dict | None) -> list[dict]:
    """The training history with its validation scores: the engine's evaluations, or, for a run that left
    its single evaluation to this step (`TrainingConfig.single_evaluation`), this step's scores of the kept
    model on validation, at the step it was kept (no validation loss: this step computes none)."""
    if validation is None or any("eval_f1" in entry for entry in history):
        return history
    scores = {f"eval_{name}": value for name, value in validation.items() if isinstance(value, float)}
    return [*history, {**scores, "epoch": train_summary["best_epoch"], "step": train_summary["best_step"]}]


def draw_figures(history: list[dict] | None, kept_step: int | None, metrics: dict, part, out: Path) -> None:
    """The training curves (when the model has its training history: a published model downloaded
    to be scored may not) and the task's figures of the evaluated split, with their index."""
    from tasks.reports.plots import training_curves

    out.mkdir()
    figures = []
    if history is not None:
        training_curves(history, kept_step, out / TRAINING_CURVES)
        title = "Training loss, validation loss and validation F1; the dashed line marks the evaluation kept"
        figures.append({"file": TRAINING_CURVES, "title": title, "section": "training"})
    split = evaluated_split(metrics)
    figures += part.draw_figures(split, metrics[split], out)
    write_json(out / FIGURES, figures)


@step()
def evaluate(
    model_dir: str,
    dataset_dir: str,
    tokenization: TokenizationConfig,
    batch_size: int,
    task: TaskName,
    mixed_precision: MixedPrecision,
    report_to: str = "none",
    *,
    out_dir: str,
) -> str:
    """Score the saved model on each evaluation split, on the device and in the precision training
    chose; write metrics.json, evaluated_on.json, predictions/<split>.{txt,csv}, errors/<split>.jsonl (the
    rows it got wrong, `tasks.reports.mistakes`), plots/, for a model
    with its training history that history with its validation scores (`scored_history`), and for a run
    tracked with TensorBoard the final scores as its event files in tensorboard/ (an MLflow run gets them
    from the flow, with the release)."""
    # Heavy: imported where used, so the flow module and cached runs start fast.
    import datasets
    import torch

    profile = profile_of(task)
    part = profile.evaluation
    device, precision = compute_device(), resolve_precision(mixed_precision)
    model = profile.model_class().from_pretrained(model_dir, use_safetensors=True).to(device).eval()
    tokenizer = load_tokenizer(model_dir)
    dataset = datasets.load_from_disk(dataset_dir)
    scoring = Scoring(tokenization, batch_size, read_json(Path(dataset_dir) / LOAD_SUMMARY).get("tag_scheme"))
    metrics, seconds = {}, {}
    with building(Path(out_dir)) as partial, torch.inference_mode(), autocast(device, precision):
        (partial / PREDICTIONS).mkdir()
        for split in (name for name in EVALUATED_SPLITS if name in dataset):
            started = time.perf_counter()
            errors = partial / ERRORS / f"{split}.jsonl"
            metrics[split] = part.score(
                model, tokenizer, dataset[split], scoring, partial / PREDICTIONS / split, errors
            )
            seconds[split] = round(time.perf_counter() - started, 1)
        write_json(partial / METRICS, metrics)
        history, kept_step = None, None
        if (Path(model_dir) / TRAIN_HISTORY).is_file():
            trained = read_json(Path(model_dir) / TRAIN_SUMMARY)
            history = scored_history(read_json(Path(model_dir) / TRAIN_HISTORY), trained, metrics.get("validation"))
            kept_step = trained.get("best_step")
            write_json(partial / TRAIN_HISTORY, history)
        draw_figures(history, kept_step, metrics, part, partial / PLOTS)
        if report_to == "tensorboard":
            log_final_scores(partial / TENSORBOARD, metrics, profile.metrics, kept_step)
        write_json(partial / EVALUATED_ON, {"device": device.type, "mixed_precision": precision, "seconds": seconds})
    return out_dir

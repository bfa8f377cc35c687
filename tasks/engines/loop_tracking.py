"""The Accelerate loop's tracking: Accelerate's tracker for --report-to, each history entry at its step, named as
the Trainer's callbacks name them, and the MLflow run's id at the end."""

import json
import re

from tasks.engines.common import TrainRequest
from tasks.tracking import EXPERIMENT, use_mlflow


def start_tracking(accelerator, request: TrainRequest) -> None:
    """Accelerate's tracker for the request's ``report_to``, with the run's options as its parameters."""
    if request.training.report_to == "none":
        return
    if request.training.report_to == "mlflow" and accelerator.is_main_process:
        use_mlflow(request.mlflow)
    options = {
        "model": request.model.hub_id or request.model.location,
        "task": request.task,
        **request.training.model_dump(mode="json"),
    }
    # TensorBoard takes numbers, strings and booleans: a mapping of class weights goes as its JSON text.
    config = {name: json.dumps(value) if isinstance(value, dict) else value for name, value in options.items()}
    accelerator.init_trackers(EXPERIMENT, config={name: value for name, value in config.items() if value is not None})


def track(accelerator, request: TrainRequest, entry: dict) -> None:
    """One history entry to the tracker, at its step; TensorBoard names are grouped as the Trainer's are
    (``train/loss``, ``eval/f1``), MLflow's are the history's own with the characters it refuses (a label's
    in ``eval_f1:<label>``) as ``_``, as the Trainer's MLflow callback writes them."""
    if request.training.report_to == "none":
        return
    values = {name: value for name, value in entry.items() if name != "step"}
    if request.training.report_to == "tensorboard":
        values = {
            name.replace("eval_", "eval/") if name.startswith("eval_") else f"train/{name}": value
            for name, value in values.items()
        }
    else:
        values = {re.sub(r"[^0-9A-Za-z_\-. :/]", "_", name): value for name, value in values.items()}
    accelerator.log(values, step=entry["step"])


def finish_tracking(accelerator, request: TrainRequest) -> str | None:
    """End the tracker's run; the MLflow run's id, for the flow to add the final scores to."""
    if request.training.report_to == "none":
        return None
    run_id = None
    if request.training.report_to == "mlflow" and accelerator.is_main_process:
        run_id = accelerator.get_tracker("mlflow").tracker.info.run_id
    accelerator.end_training()
    return run_id

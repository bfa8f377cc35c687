"""Experiment tracking: where TensorBoard and MLflow records go, and the final scores they get after training.

The engines log training through their own integrations (the Trainer's callbacks, Accelerate's trackers);
this module sets up where those write. The final scores come later: the evaluate step writes them as event
files of its own (the model artifact is complete once training ends), and, after the release is built, the
flow attaches them and the release directory to the MLflow run that trained the model.
"""

import importlib.util
import os
from pathlib import Path

from pydantic import BaseModel

from tasks.errors import PipelineError
from tasks.scores.metrics import reported_scores
from tasks.storage.catalog import MLFLOW

# The package each --report-to needs: the tracking extra installs them.
TRACKER_PACKAGES = {"tensorboard": "tensorboard", "mlflow": "mlflow"}
EXPERIMENT = "finetune"


def require_tracker(report_to: str) -> None:
    """Fail before any work when the tracker asked for is not installed."""
    package = TRACKER_PACKAGES.get(report_to)
    if package and importlib.util.find_spec(package) is None:
        raise PipelineError(
            f"--report-to {report_to} needs the {package} package: pip install -e '.[tracking]' (setup.sh does)"
        )


class MlflowTarget(BaseModel):
    """Where a run's MLflow records go: a tracking URI, and where a new experiment keeps its artifacts."""

    tracking_uri: str
    artifact_location: str | None  # None: the tracking server decides
    experiment: str


def mlflow_target(artifacts_root: Path) -> MlflowTarget:
    """MLFLOW_TRACKING_URI and MLFLOW_EXPERIMENT_NAME when set; otherwise a SQLite store and its artifacts under
    ``artifacts_root/mlflow`` (MLflow 3 no longer writes its plain-directory store), experiment "finetune"."""
    experiment = os.environ.get("MLFLOW_EXPERIMENT_NAME") or EXPERIMENT
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return MlflowTarget(
            tracking_uri=os.environ["MLFLOW_TRACKING_URI"], artifact_location=None, experiment=experiment
        )
    store = Path(artifacts_root).resolve() / MLFLOW
    store.mkdir(parents=True, exist_ok=True)
    return MlflowTarget(
        tracking_uri=f"sqlite:///{store / 'mlflow.db'}",
        artifact_location=(store / "artifacts").as_uri(),
        experiment=experiment,
    )


def use_mlflow(target: MlflowTarget) -> str:
    """Point this process's MLflow at ``target`` and make its experiment the active one; returns its id.
    The engines' integrations then log there."""
    import mlflow

    mlflow.set_tracking_uri(target.tracking_uri)
    experiment = mlflow.get_experiment_by_name(target.experiment)
    experiment_id = (
        experiment.experiment_id
        if experiment
        else mlflow.create_experiment(target.experiment, artifact_location=target.artifact_location)
    )
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def log_release(target: MlflowTarget, run_id: str, metrics: dict, names: tuple[str, ...], release_dir: Path) -> None:
    """Add the saved model's final scores (``<split>_<metric>``, `reported_scores`) and the release directory to
    the run that trained it."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=target.tracking_uri)
    for split, scores in metrics.items():
        for name, value in reported_scores(scores, names).items():
            client.log_metric(run_id, f"{split}_{name}", value)
    client.log_artifacts(run_id, str(release_dir), artifact_path="release")


def log_final_scores(log_dir: Path, metrics: dict, names: tuple[str, ...], step: int) -> None:
    """The saved model's final scores as TensorBoard scalars ``<split>/<metric>`` (`reported_scores`), at the
    training step whose weights were kept, so that they line up with the training's ``eval/`` curves."""
    from torch.utils.tensorboard import SummaryWriter

    with SummaryWriter(log_dir=str(log_dir)) as writer:
        for split, scores in metrics.items():
            for name, value in reported_scores(scores, names).items():
                writer.add_scalar(f"{split}/{name}", value, step)

"""Training progress in the Prefect UI: the engine's main process notes its step and last validation F1
in a file, and the train step, which started it, shows that file as a Prefect progress artifact.

The file is the channel because training may run in other processes (torchrun workers) that have no
Prefect run of their own; only the main process writes it, so the artifact is updated once per change.
"""

import contextvars
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import BaseModel

from tasks.storage.catalog import TRAINING_PROGRESS
from tasks.storage.files import read_json, replace_json

PROGRESS_KEY = "training-progress"
# How often the train step looks at the file: often enough for the UI, rarely enough to cost nothing.
POLL_SECONDS = 2.0


class Evaluation(BaseModel):
    epoch: float
    f1: float  # on validation


class TrainingProgress(BaseModel):
    step: int
    total_steps: int
    epoch: float
    evaluations: list[Evaluation] = []  # every evaluation so far, in order
    process: int = 0  # the rank that wrote it: always the main process's

    @property
    def percent(self) -> float:
        return round(100 * self.step / self.total_steps, 1) if self.total_steps else 0.0

    def describe(self) -> str:
        line = f"Training: step {self.step} of {self.total_steps} (epoch {self.epoch:.2f})"
        if self.evaluations:
            last = self.evaluations[-1]
            line += f"; last validation F1 {last.f1:.4f} (epoch {last.epoch:.2f})"
        return line


def note_progress(checkpoints: Path, progress: TrainingProgress) -> None:
    """Record the main process's progress for the train step to show (replaced whole: never read half-written)."""
    replace_json(Path(checkpoints) / TRAINING_PROGRESS, progress.model_dump())


def read_progress(checkpoints: Path) -> TrainingProgress | None:
    path = Path(checkpoints) / TRAINING_PROGRESS
    return TrainingProgress.model_validate(read_json(path)) if path.is_file() else None


def _show(artifact_id, progress: TrainingProgress | None, shown: TrainingProgress | None) -> None:
    """Update the artifact, and log a line for each evaluation since the last update."""
    from prefect import get_run_logger
    from prefect.artifacts import update_progress_artifact

    if progress is None:
        return
    update_progress_artifact(artifact_id, progress=progress.percent, description=progress.describe())
    for evaluation in progress.evaluations[len(shown.evaluations) if shown else 0 :]:
        get_run_logger().info(f"Validation at epoch {evaluation.epoch:.2f}: F1 {evaluation.f1:.4f}")


@contextmanager
def progress_artifact(checkpoints: Path) -> Iterator[None]:
    """Show the training progress noted under ``checkpoints`` as a Prefect progress artifact while the block runs."""
    from prefect.artifacts import create_progress_artifact

    (Path(checkpoints) / TRAINING_PROGRESS).unlink(missing_ok=True)  # an interrupted run's
    artifact_id = create_progress_artifact(progress=0.0, key=PROGRESS_KEY, description="Training: starting")
    stop = threading.Event()

    def watch() -> None:
        shown = None
        while not stop.wait(POLL_SECONDS):
            progress = read_progress(checkpoints)
            if progress != shown:
                _show(artifact_id, progress, shown)
                shown = progress
        final = read_progress(checkpoints)
        if final != shown:
            _show(artifact_id, final, shown)

    # The watcher talks to the run's Prefect server: it needs the run's settings, held in context variables.
    watcher = threading.Thread(target=contextvars.copy_context().run, args=(watch,), daemon=True)
    watcher.start()
    try:
        yield
    finally:
        stop.set()
        watcher.join()


def progress_at(history: list[dict], step: int, total_steps: int, epoch: float, process: int) -> TrainingProgress:
    """The progress of an engine whose log history (Trainer-style, both engines') is ``history``."""
    evaluations = [Evaluation(epoch=entry["epoch"], f1=entry["eval_f1"]) for entry in history if "eval_f1" in entry]
    return TrainingProgress(step=step, total_steps=total_steps, epoch=epoch, evaluations=evaluations, process=process)

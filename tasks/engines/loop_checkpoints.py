"""The Accelerate loop's checkpoints: each epoch's full state (for --resume, the older ones removed) and the best
evaluation's weights, each with its progress record written last."""

import shutil
from pathlib import Path

from tasks.storage.catalog import CHECKPOINT_PROGRESS
from tasks.storage.files import write_json


def _epoch_folder(checkpoints: Path, epoch: int) -> Path:
    return checkpoints / f"epoch-{epoch}"


def best_folder(checkpoints: Path) -> Path:
    return checkpoints / "best"


def last_complete_checkpoint(checkpoints: Path) -> Path | None:
    """The newest epoch checkpoint whose progress record was written, which happens only after
    every process saved its state."""
    complete = [folder for folder in checkpoints.glob("epoch-*") if (folder / CHECKPOINT_PROGRESS).is_file()]
    return max(complete, key=lambda folder: int(folder.name.split("-")[1]), default=None)


def save_checkpoint(accelerator, checkpoints: Path, progress: dict) -> None:
    """Model, optimizer, scheduler, sampler and RNG states of this epoch; older epochs are removed."""
    folder = _epoch_folder(checkpoints, progress["epoch"])
    accelerator.save_state(str(folder))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        write_json(folder / CHECKPOINT_PROGRESS, progress)
        for old in checkpoints.glob("epoch-*"):
            if old != folder:
                shutil.rmtree(old)
    accelerator.wait_for_everyone()


def save_best(accelerator, model, checkpoints: Path, best: dict) -> None:
    """The best evaluation's weights, with its record written last (a resumed run starts from that record)."""
    folder = best_folder(checkpoints)
    accelerator.save_model(model, str(folder))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        write_json(folder / CHECKPOINT_PROGRESS, best)
    accelerator.wait_for_everyone()


def load_best(accelerator, model, checkpoints: Path) -> None:
    from safetensors.torch import load_file

    weights = {}
    for shard in sorted(best_folder(checkpoints).glob("*.safetensors")):
        weights.update(load_file(shard))
    accelerator.unwrap_model(model).load_state_dict(weights)

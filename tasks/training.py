"""train: fine-tune a token- or sequence-classification head with the chosen engine, in this
process or in N processes started with torchrun; keep the best epoch by validation F1."""

import shutil
import subprocess
import sys
from pathlib import Path

from prefect import get_run_logger

from tasks.artifacts import building, checkpoint_dir, remove_checkpoints, step
from tasks.config import TaskName, TrainingConfig
from tasks.engines import TrainRequest, run_engine
from tasks.engines.request import ERROR
from tasks.errors import PipelineError
from tasks.hardware import slow_precision_warning
from tasks.pretrained import ModelSource
from tasks.progress import progress_artifact
from tasks.tracking import mlflow_target

REQUEST = "request.json"


def launch_processes(request: TrainRequest, num_processes: int) -> None:
    """Run the engine as ``num_processes`` torchrun workers on this machine (one: a plain process of its
    own) and wait for them."""
    import torch  # heavy: imported where used, so the flow module and cached runs start fast

    gpus = torch.cuda.device_count()
    if gpus and num_processes > gpus:
        raise PipelineError(f"num_processes is {num_processes} but this machine has {gpus} GPUs: use one process per GPU")
    request_file = Path(request.checkpoints) / REQUEST
    request_file.write_text(request.model_dump_json(indent=2))
    error_file = request_file.parent / ERROR
    error_file.unlink(missing_ok=True)
    launcher = ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={num_processes}"]
    command = [sys.executable, *(launcher if num_processes > 1 else []), "-m", "tasks.engines", str(request_file)]
    status = subprocess.run(command).returncode
    if status and error_file.is_file():
        raise PipelineError(error_file.read_text())
    if status:
        raise RuntimeError(f"the training process(es) failed (exit status {status}); see their output above")


def prepare_checkpoints(checkpoints: Path, resume: bool) -> None:
    """Make the checkpoints folder; without ``resume``, an interrupted run's checkpoints are replaced."""
    if not resume and checkpoints.is_dir() and any(checkpoints.iterdir()):
        get_run_logger().warning(
            f"Starting training over: replacing the checkpoints of an interrupted run in {checkpoints} "
            "(use --resume to continue from them)."
        )
        shutil.rmtree(checkpoints)
    checkpoints.mkdir(parents=True, exist_ok=True)


@step("model", unkeyed=("resume", "isolated"))
def train_model(
    tokenized_dir: str, model: ModelSource, training: TrainingConfig, task: TaskName, resume: bool, isolated: bool,
    out_dir: str,
) -> str:  # fmt: skip
    """Fine-tune and save the best epoch's model with its tokenizer, history and summary; ``isolated``:
    in a process of its own even with one process.

    Epoch checkpoints go to a sibling ``checkpoints/`` directory that survives a failed
    run, for ``resume``, and is removed once the model is saved.
    """
    slow = slow_precision_warning(training.mixed_precision)
    if slow:
        get_run_logger().warning(slow)
    checkpoints = checkpoint_dir(Path(out_dir))
    prepare_checkpoints(checkpoints, resume)
    with building(Path(out_dir)) as partial:
        # MLflow's default store sits beside the steps' folders, under the artifacts directory.
        mlflow = mlflow_target(Path(out_dir).parent.parent) if training.report_to == "mlflow" else None
        request = TrainRequest(
            tokenized_dir=tokenized_dir, model=model, training=training, task=task,
            checkpoints=str(checkpoints), output=str(partial), resume=resume, mlflow=mlflow,
        )  # fmt: skip
        with progress_artifact(checkpoints):
            if training.num_processes > 1 or isolated:
                launch_processes(request, training.num_processes)
            else:
                run_engine(request)
    remove_checkpoints(Path(out_dir))
    return out_dir


"""train: fine-tune a token- or sequence-classification head with the chosen engine, in this
process or in N processes started with torchrun; keep the best epoch by validation F1."""

import shutil
import subprocess
import tempfile
from pathlib import Path

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel, ConfigDict, Field, model_validator

from tasks.config.finetune import node_group_problem
from tasks.config.sections import TaskName
from tasks.config.training import TrainingConfig
from tasks.engines import TrainRequest, run_engine
from tasks.errors import PipelineError
from tasks.hardware import slow_precision_warning
from tasks.lifetime import dying_with_parent
from tasks.pretrained import ModelSource
from tasks.progress import progress_artifact
from tasks.storage.artifacts import building, checkpoint_dir, remove_checkpoints
from tasks.storage.catalog import TRAIN_ERROR, TRAIN_REQUEST
from tasks.storage.step import step
from tasks.tracking import mlflow_target


class NodeGroup(BaseModel):
    """The machines one training run spans: ``num_nodes`` of them meeting at ``rdzv_endpoint`` (node 0's
    host:port), this one being ``node_rank``."""

    model_config = ConfigDict(frozen=True)

    num_nodes: int = Field(1, ge=1)
    node_rank: int = Field(0, ge=0)
    rdzv_endpoint: str | None = None

    @model_validator(mode="after")
    def _joinable(self) -> "NodeGroup":
        problem = node_group_problem(self.num_nodes, self.node_rank, self.rdzv_endpoint)
        if problem:
            raise PipelineError(problem)
        return self

    def torchrun_options(self, num_processes: int) -> list[str]:
        if self.num_nodes == 1:
            return ["--standalone", f"--nproc_per_node={num_processes}"]
        # The static rendezvous ranks nodes by --node-rank (c10d's ranks them as they arrive), so node r runs
        # global ranks r*N to r*N+N-1 and rank 0, the only process that writes, is on node 0.
        return [
            f"--nnodes={self.num_nodes}",
            f"--node-rank={self.node_rank}",
            "--rdzv-backend=static",
            f"--rdzv-endpoint={self.rdzv_endpoint}",
            f"--nproc_per_node={num_processes}",
        ]


ONE_NODE = NodeGroup()


def launch_processes(request: TrainRequest, num_processes: int, nodes: NodeGroup = ONE_NODE) -> None:
    """Run the engine as ``num_processes`` torchrun workers on this machine, this machine being one of
    ``nodes`` (one process on one node: a plain process of its own), and wait for them."""
    import torch  # heavy: imported where used, so the flow module and cached runs start fast

    gpus = torch.cuda.device_count()
    if gpus and num_processes > gpus:
        raise PipelineError(
            f"num_processes is {num_processes} but this machine has {gpus} GPUs: use one process per GPU"
        )
    request_file = Path(request.checkpoints) / TRAIN_REQUEST
    request_file.write_text(request.model_dump_json(indent=2))
    error_file = request_file.parent / TRAIN_ERROR
    error_file.unlink(missing_ok=True)
    launcher = ["-m", "torch.distributed.run", *nodes.torchrun_options(num_processes)]
    alone = num_processes == 1 and nodes.num_nodes == 1
    # The engine's processes die with this one: a cancelled or killed run leaves none training on.
    command = dying_with_parent([*([] if alone else launcher), "-m", "tasks.engines", str(request_file)])
    status = subprocess.run(command).returncode
    if status and error_file.is_file():
        raise PipelineError(error_file.read_text())
    if status:
        # torchrun gives up on nodes that never come after its rendezvous timeout (600 s), a plain exit status.
        others = f", and that every node started and reaches {nodes.rdzv_endpoint}" if nodes.num_nodes > 1 else ""
        raise RuntimeError(f"the training process(es) failed (exit status {status}); see their output above{others}")


def prepare_checkpoints(checkpoints: Path, resume: bool) -> None:
    """Make the checkpoints folder; without ``resume``, an interrupted run's checkpoints are replaced."""
    if not resume and checkpoints.is_dir() and any(checkpoints.iterdir()):
        get_run_logger().warning(
            f"Starting training over: replacing the checkpoints of an interrupted run in {checkpoints} "
            "(use --resume to continue from them)."
        )
        shutil.rmtree(checkpoints)
    checkpoints.mkdir(parents=True, exist_ok=True)


class Launch(BaseModel):
    """How a training run starts, not what it makes (so not part of the model's key): continuing an
    interrupted run from its checkpoints, in a process of its own even with one process, and, with
    ``training.num_nodes`` above 1, where the other nodes join this one, node 0 (`join_training`)."""

    model_config = ConfigDict(frozen=True)

    resume: bool = False
    isolated: bool = False
    rdzv_endpoint: str | None = None


@step(unkeyed=("launch",))
def train(
    tokenized_dir: str, model: ModelSource, training: TrainingConfig, task: TaskName, launch: Launch, out_dir: str
) -> str:
    """Fine-tune and save the best epoch's model with its tokenizer, history and summary.

    Epoch checkpoints go to a sibling ``checkpoints/`` directory that survives a failed
    run, for ``launch.resume``, and is removed once the model is saved.
    """
    slow = slow_precision_warning(training.mixed_precision)
    if slow:
        get_run_logger().warning(slow)
    checkpoints = checkpoint_dir(Path(out_dir))
    prepare_checkpoints(checkpoints, launch.resume)
    with building(Path(out_dir)) as partial:
        # MLflow's default store sits beside the steps' folders, under the artifacts directory.
        mlflow = mlflow_target(Path(out_dir).parent.parent) if training.report_to == "mlflow" else None
        request = TrainRequest(
            tokenized_dir=tokenized_dir,
            model=model,
            training=training,
            task=task,
            checkpoints=str(checkpoints),
            output=str(partial),
            resume=launch.resume,
            mlflow=mlflow,
        )
        with progress_artifact(checkpoints):
            if training.num_processes > 1 or training.num_nodes > 1 or launch.isolated:
                nodes = NodeGroup(num_nodes=training.num_nodes, rdzv_endpoint=launch.rdzv_endpoint)
                launch_processes(request, training.num_processes, nodes)
            else:
                run_engine(request)
    remove_checkpoints(Path(out_dir))
    return out_dir


@task(name="join-training", cache_policy=NO_CACHE)
def join_training(
    tokenized_dir: str, model: ModelSource, training: TrainingConfig, task: TaskName, node_rank: int, rdzv_endpoint: str
) -> None:
    """Train as node ``node_rank`` (1 and up) of the run whose node 0 is the train step given the same inputs
    and ``rdzv_endpoint``; what this node's processes write (checkpoint states) goes to a folder removed at
    the end, since node 0's rank 0 writes the model.

    It takes no artifact lock: node 0 holds the model's while it waits for the other nodes.
    """
    nodes = NodeGroup(num_nodes=training.num_nodes, node_rank=node_rank, rdzv_endpoint=rdzv_endpoint)
    if node_rank == 0:
        raise PipelineError("node 0 trains in the train step (train); join_training starts nodes 1 and up")
    if not Path(tokenized_dir).is_dir():
        raise PipelineError(
            f"node {node_rank} cannot read the tokenized data at {tokenized_dir}: every node needs the artifacts "
            "directory at the same path"
        )
    with tempfile.TemporaryDirectory(prefix=f"node-{node_rank}-") as scratch:
        request = TrainRequest(
            tokenized_dir=tokenized_dir,
            model=model,
            training=training,
            task=task,
            checkpoints=scratch,
            output=str(Path(scratch) / "model"),
        )
        launch_processes(request, training.num_processes, nodes)

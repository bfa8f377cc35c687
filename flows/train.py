"""The GPU side of the pipeline: train and evaluate, as a flow of its own.

The finetune flow runs it as a subflow in its own process by default, or, given a deployment
name, as a run of that deployment on the deployment's work pool (the `gpu` pool in
deployments/prefect.yaml). Both sides pass artifact locations, so the artifacts directory must be
storage both reach (a shared disk, or a bucket); the result is persisted so the parent can read it
back, from the bucket when the machines share no disk (`flows.result_storage`).
"""

import time
from contextlib import suppress
from uuid import uuid4

from prefect import flow, get_run_logger
from pydantic import BaseModel

from tasks.config.sections import TaskName, TokenizationConfig
from tasks.config.training import TrainingConfig
from tasks.console import set_console
from tasks.errors import PipelineError
from tasks.pretrained import ModelSource
from tasks.steps.evaluate import evaluate
from tasks.steps.train import Launch, train
from tasks.storage.artifacts import is_finished
from tasks.storage.step import ArtifactStore, StepReport

FLOW_NAME = "train-evaluate"
# How often the parent asks the server whether the deployment's run has ended.
POLL_SECONDS = 2
# How long the parent waits for a Prefect server that stopped answering (restarted, or its machine rebooted).
SERVER_OUTAGE_SECONDS = 900


class TrainEvaluateRequest(BaseModel):
    """What the train and evaluate steps need: the flow's parameters."""

    store: ArtifactStore
    dataset_dir: str
    tokenized_dir: str
    model: ModelSource
    training: TrainingConfig
    tokenization: TokenizationConfig
    task: TaskName
    resume: bool
    rdzv_endpoint: str | None = None  # with training.num_nodes above 1: where the other nodes join this one
    # Train in a process of its own: trials training at once in one process would share torch's and
    # Accelerate's process-wide state (random generators, the distributed state).
    isolated: bool = False
    verbose: bool = False  # the libraries' own output too (`tasks.console`)


class TrainEvaluateResult(BaseModel):
    model_dir: str
    evaluation_dir: str
    steps: list[StepReport]


@flow(name=FLOW_NAME, persist_result=True, result_serializer="json")
def train_and_evaluate(request: TrainEvaluateRequest) -> TrainEvaluateResult:
    """Fine-tune the model on the tokenized data and score the saved model; cached like every step."""
    set_console(request.verbose)
    launch = Launch(resume=request.resume, isolated=request.isolated, rdzv_endpoint=request.rdzv_endpoint)
    trained = train(request.tokenized_dir, request.model, request.training, request.task, launch, store=request.store)
    training = request.training
    evaluated = evaluate(
        trained.path,
        request.dataset_dir,
        request.tokenization,
        training.eval_batch_size,
        request.task,
        training.mixed_precision,
        training.report_to,
        store=request.store,
    )
    return TrainEvaluateResult(model_dir=trained.path, evaluation_dir=evaluated.path, steps=[trained, evaluated])


def run_train_evaluate(deployment: str | None, request: TrainEvaluateRequest) -> TrainEvaluateResult:
    """Train, then evaluate: as a subflow here, or as a run of ``deployment`` on its work pool when one is given."""
    if not deployment:
        return train_and_evaluate(request)
    get_run_logger().info(f"Training and evaluating as a run of deployment {deployment}.")
    return run_on_deployment(deployment, request)


def run_on_deployment(deployment: str, request: TrainEvaluateRequest) -> TrainEvaluateResult:
    """Run train-evaluate as a run of ``deployment`` (``train-evaluate/NAME``) and wait for its result."""
    from prefect.deployments import run_deployment

    _check_deployment(deployment)
    # The client resends a create that timed out (a busy server); one key per call makes the server answer the
    # resend with the run it already created instead of starting a second one.
    started = run_deployment(
        deployment, parameters={"request": request.model_dump(mode="json")}, timeout=0, idempotency_key=str(uuid4())
    )
    flow_run = _wait_for_end(started)
    state = flow_run.state
    if not state.is_completed():
        raise PipelineError(
            f"the {deployment} run {flow_run.name} ended {state.name}: {state.message}; its checkpoints are kept "
            "under the artifacts directory: run again with resume to continue from the last epoch"
        )
    try:
        result = TrainEvaluateResult.model_validate(state.result())
    except Exception as error:
        raise PipelineError(
            f"cannot read the result of the {deployment} run {flow_run.name}: {error}; both work pools need the "
            "same result storage: with artifacts in a bucket, deploy with FINETUNE_ARTIFACTS_DIR set to it "
            "(deployments/deploy.sh keeps results there); on a shared disk, the same PREFECT_RESULTS_LOCAL_STORAGE_PATH"
        ) from error
    missing = [path for path in (result.model_dir, result.evaluation_dir) if not is_finished(path)]
    if missing:
        raise PipelineError(
            f"the {deployment} run {flow_run.name} wrote {', '.join(missing)}, which this machine cannot read: "
            "the artifacts directory must be storage both work pools reach"
        )
    return result


def _wait_for_end(flow_run):
    """The deployment's run once it has ended. A server that stops answering is waited for (the run trains on
    without it) up to SERVER_OUTAGE_SECONDS; a stop of this run (cancelled, or its process terminated) cancels
    the deployment's run too, whose worker then stops it."""
    import httpx
    from prefect import get_client
    from prefect.settings import PREFECT_API_URL

    logger = get_run_logger()
    answered_at, warned = time.monotonic(), False
    try:
        while True:
            try:
                with get_client(sync_client=True) as client:
                    flow_run = client.read_flow_run(flow_run.id)
            except httpx.TransportError as error:  # raised once the client's own retries (about a minute) are spent
                silent = time.monotonic() - answered_at
                if silent > SERVER_OUTAGE_SECONDS:
                    raise PipelineError(
                        f"the Prefect server at {PREFECT_API_URL.value()} did not answer for {silent:.0f} s "
                        f"({type(error).__name__}) while run {flow_run.name} trained: once it is back, run again "
                        "with resume to continue from the last epoch"
                    ) from error
                if not warned:
                    logger.warning(
                        "The Prefect server at %s has not answered for %.0f s (%s); waiting for it up to %d s while "
                        "run %s trains on.",
                        PREFECT_API_URL.value(),
                        silent,
                        type(error).__name__,
                        SERVER_OUTAGE_SECONDS,
                        flow_run.name,
                    )
                    warned = True
            else:
                if warned:
                    logger.warning(
                        "The Prefect server answers again after %.0f s; run %s is %s.",
                        time.monotonic() - answered_at,
                        flow_run.name,
                        flow_run.state.name,
                    )
                    warned = False
                answered_at = time.monotonic()
                if flow_run.state.is_final():
                    return flow_run
            time.sleep(POLL_SECONDS)
    except BaseException:  # a cancellation reaches this process as a signal (Prefect's TerminationSignal)
        _cancel(flow_run)
        raise


def _cancel(flow_run) -> None:
    from prefect import get_client
    from prefect.states import Cancelling

    with suppress(Exception), get_client(sync_client=True) as client:  # the server may be the thing that is gone
        if not client.read_flow_run(flow_run.id).state.is_final():
            client.set_flow_run_state(flow_run.id, Cancelling(message="its parent run was stopped"), force=True)


def _check_deployment(deployment: str) -> None:
    """Fail with what to do when the deployment or its work pool is missing; warn when no worker
    polls the pool, since the run would wait for one."""
    from prefect import get_client
    from prefect.client.schemas.objects import WorkerStatus
    from prefect.exceptions import ObjectNotFound
    from prefect.settings import PREFECT_API_URL

    server = PREFECT_API_URL.value() or "the temporary local server (PREFECT_API_URL is not set)"
    with get_client(sync_client=True) as client:
        try:
            found = client.read_deployment_by_name(deployment)
        except ObjectNotFound:
            raise PipelineError(
                f"no deployment {deployment} on {server}: deploy it with deployments/deploy.sh, or leave "
                "train_deployment unset to train in this process"
            ) from None
        pool = found.work_pool_name  # None once its pool is deleted: the server detaches the deployment
        if pool is None or not _pool_exists(client, pool):
            raise PipelineError(
                f"deployment {deployment} has no work pool on {server} ({pool or 'its pool was deleted'}): "
                "create the pools and deploy again with deployments/deploy.sh"
            )
        workers = client.read_workers_for_work_pool(pool)
    if not any(worker.status == WorkerStatus.ONLINE for worker in workers):
        get_run_logger().warning(
            f"No worker is polling work pool '{pool}': the run waits until one starts "
            f"(prefect worker start --pool {pool})."
        )


def _pool_exists(client, pool: str) -> bool:
    from prefect.exceptions import ObjectNotFound

    try:
        client.read_work_pool(pool)
    except ObjectNotFound:
        return False
    return True

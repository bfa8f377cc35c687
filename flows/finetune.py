"""The fine-tuning pipeline flow, and its command line: ``python -m flows.finetune --help``.

This is the only place that knows the order of the steps:
load -> data report -> tokenize/align -> train -> evaluate -> check -> model card -> push.
"""
# ruff: noqa: E402 (the command line is checked before the imports that take seconds)

import sys

if __name__ == "__main__":
    # Before Prefect, torch and transformers load (seconds on a small machine): --help and a
    # mistyped option answer at once. main() parses the options again, in milliseconds.
    from tasks.config import exit_on_bad_command_line

    exit_on_bad_command_line(sys.argv[1:])
    from flows.temporary_server import TemporaryServer, without_telemetry

    # Prefect's temporary server, when the run needs one, starts now and comes up while the rest loads.
    without_telemetry()
    TEMPORARY_SERVER = TemporaryServer.start_unless_configured()

import logging
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, runtime
from prefect.artifacts import create_image_artifact, create_markdown_artifact, create_table_artifact
from prefect.settings import temporary_settings
from pydantic import BaseModel

from flows.gate import quality_gate
from flows.temporary_server import START_SECONDS, TemporaryServer, without_telemetry
from flows.train import TrainEvaluateRequest, TrainEvaluateResult, run_on_deployment, train_and_evaluate
from tasks.artifacts import (
    ArtifactStore,
    StepReport,
    ensure_writable,
    local_dir,
    read_artifact,
    read_artifact_json,
    remove_stale_partials,
)
from tasks.check import CHECK, check_inputs, check_model, check_published
from tasks.config import (
    DataConfig,
    FinetuneConfig,
    ModelConfig,
    TaskName,
    TokenizationConfig,
    TrainingConfig,
    parse_command_line,
)
from tasks.console import set_console
from tasks.data_report import MARKDOWN as REPORT_MARKDOWN, REPORT, report_data
from tasks.engines.request import HISTORY, SUMMARY as TRAIN_SUMMARY
from tasks.errors import PipelineError
from tasks.evaluation import FIGURES, METRICS, PLOTS
from tasks.hub import Pushed, hub_token, push_to_hub
from tasks.load import SUMMARY as LOAD_SUMMARY, load_dataset
from tasks.model_card import CARD, Selection, card_for_display, epoch_table, release_model
from tasks.plots import data_url
from tasks.pretrained import ModelSource, resolve_model
from tasks.profiles import is_pair, profile_of
from tasks.quality_gate import Decision, Release, record_release
from tasks.sources import DatasetSource, resolve_dataset
from tasks.storage import is_remote, transferred
from tasks.tokenization import tokenize_dataset
from tasks.tracking import log_release, mlflow_target, require_tracker
from tasks.training import join_training


class RunSummary(BaseModel):
    flow_run_id: str
    model_dir: str
    metrics: dict[str, Any]
    check: dict[str, Any]
    steps: list[StepReport]
    decision: Decision
    pushed_to: str | None
    published_check: dict[str, Any] | None  # the pushed model, downloaded by repo id and run on the check input
    # Bytes this run moved to and from a bucket as artifacts directory (uploaded, downloaded); None on disk.
    transferred_bytes: dict[str, int] | None = None


class JoinedSummary(BaseModel):
    """What a run on node 1 and up did: it loaded and tokenized (or found them cached), and trained with node 0."""

    flow_run_id: str
    node_rank: int
    num_nodes: int
    rdzv_endpoint: str
    steps: list[StepReport]

    def describe(self) -> str:
        return (
            f"Node {self.node_rank} of {self.num_nodes}: trained with node 0 at {self.rdzv_endpoint}; node 0 saves, "
            "evaluates and publishes the model."
        )


def _publish_artifacts(task: TaskName, metrics: dict, release_dir: str) -> None:
    """The scores, the card, the figures and the per-epoch table, where the Prefect UI shows them."""
    names = profile_of(task).metrics
    rows = [{"split": split, **{name: round(scores[name], 4) for name in names}} for split, scores in metrics.items()]
    create_table_artifact(key=f"{task}-metrics", table=rows, description="Scores of the saved model")
    card = card_for_display(read_artifact(release_dir, CARD).decode())
    create_markdown_artifact(key="model-card", markdown=card, description="README.md of the released model")
    for figure in read_artifact_json(release_dir, f"{PLOTS}/{FIGURES}"):
        key = f"{task}-{Path(figure['file']).stem.replace('_', '-')}"
        image = data_url(read_artifact(release_dir, f"{PLOTS}/{figure['file']}"))
        create_image_artifact(image_url=image, key=key, description=figure["title"])
    epochs = epoch_table(read_artifact_json(release_dir, HISTORY))
    create_table_artifact(key="training-epochs", table=epochs, description="Training loss and validation per evaluation")


def _check_push_settings(config: FinetuneConfig) -> None:
    """Fail before any work when a push is asked for and there is no token to push with."""
    if config.hub_model_id and not hub_token(config.hub_token_secret):
        raise PipelineError(
            f"--hub-model-id {config.hub_model_id} needs a Hub token: set HF_TOKEN, or --hub-token-secret to the "
            "name of a Prefect Secret block that holds one"
        )


def run_train_evaluate(config: FinetuneConfig, request: TrainEvaluateRequest) -> TrainEvaluateResult:
    """The GPU side: a subflow here, or a run of the configured deployment on its work pool."""
    if not config.train_deployment:
        return train_and_evaluate(request)
    get_run_logger().info(f"Training and evaluating as a run of deployment {config.train_deployment}.")
    return run_on_deployment(config.train_deployment, request)


def _publish(config: FinetuneConfig, decision: Decision, release_dir: str) -> Pushed | None:
    """Push the release when the gate says so and there is a Hub repo to push to."""
    if not decision.publish:
        return None
    if not config.hub_model_id:
        return None
    state = push_to_hub(
        release_dir, config.hub_model_id, config.hub_private, config.hub_revision, config.hub_token_secret,
        return_state=True,
    )  # fmt: skip
    try:
        return state.result()
    except Exception as error:
        raise PipelineError(
            f"push to {config.hub_model_id} failed: {error}; the model is saved in {release_dir}"
        ) from error


def _track_release(config: FinetuneConfig, store: ArtifactStore, model_dir: str, metrics: dict, released: StepReport) -> None:
    """Add the final scores and the release to the MLflow run that trained the model, when the release is new."""
    run_id = read_artifact_json(model_dir, TRAIN_SUMMARY).get("mlflow_run_id")
    if config.report_to == "mlflow" and run_id and not released.cached:
        target = mlflow_target(store.local_root())
        log_release(target, run_id, metrics, profile_of(config.task).metrics, local_dir(released.path))


def _check_published(config: FinetuneConfig, pushed: Pushed, text: str, text_pair: str | None) -> dict:
    """Download the pushed commit by repo id and run it on the check input, as a user of the repo would."""
    result = check_published(
        pushed.repo_id, pushed.commit, config.task, text, text_pair, config.hub_token_secret, config.section(TokenizationConfig)
    )
    get_run_logger().info(
        f"The model published at {pushed.repo_id} ({pushed.commit[:8]}) loads and runs: "
        + profile_of(config.task).part("tasks.check").describe(result)
    )
    return result


class Prepared(BaseModel):
    """A run's start: its store, model and data source, the loaded data, its report and the tokenized data."""

    store: ArtifactStore
    model: ModelSource
    source: DatasetSource
    loaded: StepReport
    reported: StepReport | None  # None on nodes 1 and up, which only train: the report is for node 0's gate and card
    tokenized: StepReport
    transferred_before: dict[str, int]  # `tasks.storage.transferred` as the run began


def _show_data_report(reported: StepReport) -> None:
    """The data report where the Prefect UI shows it, and a warning in the log for each problem it found."""
    markdown = read_artifact(reported.path, REPORT_MARKDOWN).decode()
    create_markdown_artifact(key="data-report", markdown=markdown, description="What the loaded data holds")
    for problem in read_artifact_json(reported.path, REPORT)["problems"]:
        get_run_logger().warning(f"Data: {problem}.")


def prepare(config: FinetuneConfig) -> Prepared:
    """Check what can be checked before any work, then load the data, report on it and tokenize it."""
    set_console(config.verbose)
    transferred_before = transferred()
    artifacts_dir = config.artifacts_dir if is_remote(config.artifacts_dir) else config.artifacts_dir.resolve()
    ensure_writable(artifacts_dir)
    _check_push_settings(config)
    require_tracker(config.report_to)
    store = ArtifactStore(root=artifacts_dir, refresh=config.refresh)
    for leftover in remove_stale_partials(store.local_root()):
        get_run_logger().info(f"Removed {leftover}, left by a run that died while building it.")
    data, model = config.section(DataConfig), resolve_model(config.section(ModelConfig))
    source = resolve_dataset(data)
    loaded = load_dataset(source, data, config.task, store=store)
    reported = None if config.node_rank else report_data(loaded.path, model, config.max_length, config.task, store=store)
    if reported:
        _show_data_report(reported)
    tokenized = tokenize_dataset(loaded.path, model, config.section(TokenizationConfig), config.task, store=store)
    return Prepared(
        store=store, model=model, source=source, loaded=loaded, reported=reported, tokenized=tokenized,
        transferred_before=transferred_before,
    )  # fmt: skip


def train_evaluate_request(config: FinetuneConfig, prepared: Prepared, tokenized_dir: str) -> TrainEvaluateRequest:
    return TrainEvaluateRequest(
        store=prepared.store, dataset_dir=prepared.loaded.path, tokenized_dir=tokenized_dir, model=prepared.model,
        training=config.section(TrainingConfig), tokenization=config.section(TokenizationConfig), task=config.task, resume=config.resume,
        rdzv_endpoint=config.rdzv_endpoint, verbose=config.verbose,
    )  # fmt: skip


def publish(config: FinetuneConfig, prepared: Prepared, trained: TrainEvaluateResult, selection: Selection | None = None) -> RunSummary:
    """Check the trained model, decide with the quality gate, write the release and its card, push:
    what every run does after training, a sweep's winner's included (``selection`` says how it was chosen)."""
    store, model, source, loaded, reported = prepared.store, prepared.model, prepared.source, prepared.loaded, prepared.reported
    model_dir, evaluation_dir = trained.model_dir, trained.evaluation_dir
    pair = is_pair(read_artifact_json(loaded.path, LOAD_SUMMARY)["columns"])
    text, text_pair = check_inputs(config.task, pair, config.check_text, config.check_text_pair)
    checked = check_model(model_dir, config.task, text, text_pair, config.section(TokenizationConfig), store=store)
    metrics = read_artifact_json(evaluation_dir, METRICS)
    kind = profile_of(config.task).short_name
    model_name = config.hub_model_id or f"{Path(model.hub_id or model.location).name}-finetuned-{kind}"
    gate = quality_gate(config, store, model_name, loaded.path, reported.path, model_dir, evaluation_dir, source.hub_id)
    settings = [config.section(DataConfig), config.section(TokenizationConfig), config.section(TrainingConfig)]
    released = release_model(
        config.task, model_dir, loaded.path, reported.path, evaluation_dir, checked.path, model_name, config.hub_model_id,
        model.hub_id or model.location, source.hub_id, settings, gate.card_decision, config.license,
        config.language, selection, store=store,
    )  # fmt: skip
    release_dir, decision = released.path, gate.decision
    _publish_artifacts(config.task, metrics, release_dir)
    _track_release(config, store, model_dir, metrics, released)
    pushed = _publish(config, decision, release_dir)
    record_release(store.root, model_name, Release(
        release_dir=release_dir, score=decision.challenger, weights_sha256=gate.weights_sha256,
        decision=decision, pushed_to=pushed.commit_url if pushed else None, label_distribution=gate.label_distribution,
    ))  # fmt: skip
    published_check = _check_published(config, pushed, text, text_pair) if pushed else None
    return RunSummary(
        flow_run_id=str(runtime.flow_run.id),
        model_dir=release_dir,
        metrics=metrics,
        check=read_artifact_json(checked.path, CHECK),
        steps=[loaded, reported, prepared.tokenized, *trained.steps, checked, *gate.steps, released],
        decision=decision,
        pushed_to=pushed.commit_url if pushed else None,
        published_check=published_check,
        transferred_bytes=_transferred_since(prepared) if is_remote(store.root) else None,
    )


def _transferred_since(prepared: Prepared) -> dict[str, int]:
    now = transferred()
    return {direction: now[direction] - prepared.transferred_before[direction] for direction in now}


def join_as_node(config: FinetuneConfig, prepared: Prepared) -> JoinedSummary:
    """Node 1 and up of a multi-node run: train with node 0, which writes, evaluates and publishes."""
    tokenized = str(local_dir(prepared.tokenized.path))
    join_training(tokenized, prepared.model, config.section(TrainingConfig), config.task, config.node_rank, config.rdzv_endpoint)
    joined = JoinedSummary(
        flow_run_id=str(runtime.flow_run.id), node_rank=config.node_rank, num_nodes=config.num_nodes,
        rdzv_endpoint=config.rdzv_endpoint, steps=[prepared.loaded, prepared.tokenized],
    )  # fmt: skip
    get_run_logger().info(joined.describe())
    return joined


@flow(name="finetune")
def finetune(config: FinetuneConfig = FinetuneConfig()) -> RunSummary | JoinedSummary:
    """Fine-tune a pretrained encoder for NER, evaluate it, check it, write its card, push it; on node 1 and
    up of a multi-node run, only train with node 0."""
    prepared = prepare(config)
    if config.node_rank:
        return join_as_node(config, prepared)
    trained = run_train_evaluate(config, train_evaluate_request(config, prepared, prepared.tokenized.path))
    return publish(config, prepared, trained)


def format_summary(task: TaskName, summary: RunSummary) -> str:
    check_line = profile_of(task).part("tasks.check").describe
    scores = ", ".join(
        f"{split} " + " ".join(f"{name} {values[name]:.4f}" for name in ("accuracy", "f1") if name in values)
        for split, values in summary.metrics.items()
    )
    lines = [
        f"Model:    {summary.model_dir}",
        f"Scores:   {scores}",
        f"Check:    {check_line(summary.check)}",
        f"Gate:     {'publish' if summary.decision.publish else 'keep the published model'}: {summary.decision.reason}",
        f"Pushed:   {summary.pushed_to or _not_pushed(summary.decision)}",
        *([f"Hub check: {check_line(summary.published_check)}"] if summary.published_check else []),
        *([f"Bucket:   {_megabytes(summary.transferred_bytes)}"] if summary.transferred_bytes is not None else []),
        "Steps:    " + ", ".join(f"{step.name} {step.seconds:.1f} s{' (reused)' if step.cached else ''}" for step in summary.steps),
    ]
    return "\n".join(lines)


def _not_pushed(decision: Decision) -> str:
    return "no (set --hub-model-id and HF_TOKEN to push)" if decision.publish else "no"


def _megabytes(transferred_bytes: dict[str, int]) -> str:
    return ", ".join(f"{count / 1e6:.1f} MB {direction}" for direction, count in transferred_bytes.items())


class _HideUserErrorTracebacks(logging.Filter):
    """A PipelineError is the user's to fix: log its message, not the engine's traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], PipelineError):
            record.exc_info, record.exc_text = None, None
        return True


def _quiet_user_errors() -> None:
    """Log a user error's message without the traceback, in the runs' logs."""
    for name in ("prefect.flow_runs", "prefect.task_runs"):
        logging.getLogger(name).addFilter(_HideUserErrorTracebacks())


def _check_server() -> None:
    """With PREFECT_API_URL set, fail in one line when that server cannot be reached."""
    from prefect import get_client
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url:
        return
    with get_client(sync_client=True) as client:
        error = client.api_healthcheck()
    if error:
        raise PipelineError(
            f"cannot reach the Prefect server at {url} (PREFECT_API_URL): {error}; start it with prefect server start, "
            "or unset PREFECT_API_URL to run with a temporary local server"
        )


def _server_settings(server: TemporaryServer | None) -> dict:
    """The temporary server's address; without one started here, a patient limit for Prefect's own
    (a first start with an empty Prefect home takes about its default 20 s on 2 cores)."""
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS as LIMIT

    return {PREFECT_API_URL: server.url} if server else {LIMIT: max(LIMIT.value(), START_SECONDS)}


def run_command_line(argv: list[str] | None, server: TemporaryServer | None, parse, run, describe) -> int:
    """A flow's command line: ``parse(argv)`` gives the config and where to write the summary; ``run(config)``
    runs the flow with ``server`` (a `TemporaryServer` started early, which stops when the process exits)
    or with PREFECT_API_URL's server or Prefect's own temporary one; ``describe(config, summary)`` is printed.
    A user error ends it with its message and exit code 2."""
    without_telemetry()
    _quiet_user_errors()
    try:
        config, summary_json = parse(argv)
        with temporary_settings(_server_settings(server)):
            if server:
                server.wait_until_ready()
            _check_server()
            summary = run(config)
    except PipelineError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(describe(config, summary))
    if summary_json:
        summary_json.write_text(summary.model_dump_json(indent=2))
    return 0


def main(argv: list[str] | None = None, server: TemporaryServer | None = None) -> int:
    """The command line of the finetune flow (see `run_command_line`)."""
    def describe(config: FinetuneConfig, summary: RunSummary | JoinedSummary) -> str:
        return summary.describe() if isinstance(summary, JoinedSummary) else format_summary(config.task, summary)

    return run_command_line(argv, server, parse_command_line, finetune, describe)


if __name__ == "__main__":
    sys.exit(main(server=TEMPORARY_SERVER))

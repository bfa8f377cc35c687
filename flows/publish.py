"""The finetune flow's steps after training, as the flow feeds them: the check input, the parity check of an
export, what the release is made of and called, the MLflow record, the push, the registry's record, the check
of the pushed model, and the run's summary."""

from pathlib import Path
from typing import Any

from prefect import get_run_logger, runtime, task
from pydantic import BaseModel

from flows.gate import GateResult
from flows.preflight import Run
from flows.train import TrainEvaluateResult
from tasks.config.finetune import FinetuneConfig
from tasks.config.sections import DataConfig, TokenizationConfig
from tasks.config.training import TrainingConfig
from tasks.errors import PipelineError
from tasks.hub import Pushed, push_to_hub
from tasks.profiles import is_pair, profile_of
from tasks.scores.quality_gate import Decision, Release, record_release
from tasks.steps.check import check_inputs, check_published
from tasks.steps.evaluate import evaluated_split
from tasks.steps.export import ParityCheck
from tasks.steps.release import ReleaseInputs, ReleaseNames
from tasks.storage.artifacts import local_dir, read_artifact_json
from tasks.storage.buckets import is_remote, transferred
from tasks.storage.catalog import CHECK, LOAD_SUMMARY, METRICS, TRAIN_SUMMARY
from tasks.storage.step import ArtifactStore, StepReport
from tasks.tracking import log_release, mlflow_target


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
    metric: str = "f1"  # what the run was judged by (--metric)
    early_stopping: dict[str, Any] | None = None  # what it did, as the train summary records it; None when off


def check_input(config: FinetuneConfig, loaded: StepReport) -> tuple[str, str | None]:
    """The text (and for pairs, second text) the trained and the pushed model are run on."""
    pair = is_pair(read_artifact_json(loaded.path, LOAD_SUMMARY)["columns"])
    return check_inputs(config.task, pair, config.check_text, config.check_text_pair)


def parity_check(config: FinetuneConfig, loaded: StepReport, trained: TrainEvaluateResult) -> ParityCheck:
    """How an ONNX export is checked against PyTorch: on the split the evaluate step scored."""
    return ParityCheck(
        dataset_dir=loaded.path,
        split=evaluated_split(read_artifact_json(trained.evaluation_dir, METRICS)),
        tokenization=config.section(TokenizationConfig),
        batch_size=config.eval_batch_size,
    )


def release_inputs(built: list[StepReport | None]) -> ReleaseInputs:
    """What the release is made of: the artifacts of the steps before it, by step (None for a step not run)."""
    made = {step.name: step.path for step in built if step}
    return ReleaseInputs(
        dataset_dir=made["load"],
        report_dir=made["data_report"],
        tokenized_dir=made["tokenize"],
        model_dir=made["train"],
        evaluation_dir=made["evaluate"],
        check_dir=made["check"],
        export_dir=made.get("export"),
        issues_dir=made.get("label_issues"),
    )


def release_names(config: FinetuneConfig, run: Run) -> ReleaseNames:
    """What the card calls the release and what it was made with: the model name is the Hub repo's, or
    ``<base>-finetuned-<task>``."""
    model, kind = run.model, profile_of(config.task).short_name
    return ReleaseNames(
        model_name=config.hub_model_id or f"{Path(model.hub_id or model.location).name}-finetuned-{kind}",
        hub_model_id=config.hub_model_id,
        base_model=model.hub_id or model.location,
        base_model_pickle=model.pickle_weights,
        dataset_hub_id=run.source.hub_id,
        license=config.license,
        language=config.language,
        settings=[config.section(DataConfig), config.section(TokenizationConfig), config.section(TrainingConfig)],
    )


def track(config: FinetuneConfig, store: ArtifactStore, trained: TrainEvaluateResult, released: StepReport) -> None:
    """Add the final scores and the release to the MLflow run that trained the model (as its train summary
    records it), when the run tracks with MLflow and the release is new."""
    run_id = read_artifact_json(trained.model_dir, TRAIN_SUMMARY).get("mlflow_run_id")
    if config.report_to == "mlflow" and run_id and not released.cached:
        metrics = read_artifact_json(trained.evaluation_dir, METRICS)
        target = mlflow_target(store.local_root())
        tracked = task(log_release, name="track-release", retries=2, retry_delay_seconds=5)
        tracked(target, run_id, metrics, profile_of(config.task).metrics, local_dir(released.path))


def push(config: FinetuneConfig, decision: Decision, release_dir: str) -> Pushed | None:
    """Push the release when the gate says so and there is a Hub repo to push to."""
    if not decision.publish or not config.hub_model_id:
        return None
    state = push_to_hub(
        release_dir,
        config.hub_model_id,
        config.hub_private,
        config.hub_revision,
        config.hub_token_secret,
        return_state=True,
    )
    try:
        return state.result()
    except Exception as error:
        raise PipelineError(
            f"push to {config.hub_model_id} failed: {error}; the model is saved in {release_dir}"
        ) from error


def record(store: ArtifactStore, names: ReleaseNames, gate: GateResult, released: StepReport, pushed: Pushed | None):
    """Add the release and the gate's decision to the registry; a published one becomes what is published."""
    release = Release(
        release_dir=released.path,
        score=gate.decision.challenger,
        weights_sha256=gate.weights_sha256,
        decision=gate.decision,
        pushed_to=pushed.commit_url if pushed else None,
        label_distribution=gate.label_distribution,
    )
    record_release(store.root, names.model_name, release)


def check_pushed(config: FinetuneConfig, pushed: Pushed | None, text: tuple[str, str | None]) -> dict | None:
    """Download the pushed commit by repo id and run it on the check input, as a user of the repo would."""
    if pushed is None:
        return None
    result = check_published(
        pushed.repo_id, pushed.commit, config.task, *text, config.hub_token_secret, config.section(TokenizationConfig)
    )
    get_run_logger().info(
        f"The model published at {pushed.repo_id} ({pushed.commit[:8]}) loads and runs: "
        + profile_of(config.task).check.describe(result)
    )
    return result


class Outcome(BaseModel):
    """What a run ended with, for its summary: the steps it took, the gate's result and what was pushed."""

    steps: list[StepReport | None]  # None for a step the run did not take
    gate: GateResult
    pushed: Pushed | None
    published_check: dict | None


def summary(config: FinetuneConfig, run: Run, trained: TrainEvaluateResult, outcome: Outcome) -> RunSummary:
    steps = [step for step in outcome.steps if step]
    checked, released = (next(step for step in steps if step.name == name) for name in ("check", "release"))
    return RunSummary(
        flow_run_id=str(runtime.flow_run.id),
        model_dir=released.path,
        metrics=read_artifact_json(trained.evaluation_dir, METRICS),
        check=read_artifact_json(checked.path, CHECK),
        steps=steps,
        decision=outcome.gate.decision,
        pushed_to=outcome.pushed.commit_url if outcome.pushed else None,
        published_check=outcome.published_check,
        transferred_bytes=_transferred_since(run) if is_remote(run.store.root) else None,
        metric=config.metric,
        early_stopping=read_artifact_json(trained.model_dir, TRAIN_SUMMARY).get("early_stopping"),
    )


def _transferred_since(run: Run) -> dict[str, int]:
    now = transferred()
    return {direction: now[direction] - run.transferred_before[direction] for direction in now}

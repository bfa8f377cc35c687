"""What every run does after training, a sweep's winner's included: check the trained model, decide with
the quality gate, write the release and its card, push it when the gate publishes it, and record it."""

import json
from pathlib import Path
from typing import Any

from prefect import get_run_logger, runtime, task
from prefect.artifacts import create_image_artifact, create_markdown_artifact, create_table_artifact
from pydantic import BaseModel

from flows.gate import quality_gate
from flows.prepare import Prepared
from flows.train import TrainEvaluateResult
from tasks.config.sections import (
    DataConfig,
    FinetuneConfig,
    QuantizationConfig,
    TaskName,
    TokenizationConfig,
    TrainingConfig,
)
from tasks.errors import PipelineError
from tasks.hub import Pushed, push_to_hub
from tasks.profiles import is_pair, profile_of
from tasks.reports.mistakes import describe, table_rows
from tasks.reports.model_card import Selection, card_for_display, epoch_table
from tasks.reports.plots import data_url
from tasks.scores.metrics import MISTAKES, reported_scores
from tasks.scores.quality_gate import Decision, Release, record_release
from tasks.steps.check import check, check_inputs, check_published
from tasks.steps.evaluate import evaluated_split
from tasks.steps.export import ParityCheck, export
from tasks.steps.release import ReleaseInputs, ReleaseNames, release
from tasks.storage.artifacts import local_dir, read_artifact, read_artifact_json
from tasks.storage.buckets import is_remote, transferred
from tasks.storage.catalog import (
    CARD,
    CHECK,
    ERRORS,
    FIGURES,
    LOAD_SUMMARY,
    METRICS,
    PLOTS,
    TRAIN_HISTORY,
    TRAIN_SUMMARY,
)
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


def after_training(
    config: FinetuneConfig, prepared: Prepared, trained: TrainEvaluateResult, selection: Selection | None = None
) -> RunSummary:
    """Check the trained model, decide with the quality gate, write the release and its card, push it when
    the gate publishes it, and record the decision: what every run does after training, a sweep's winner's
    included (``selection`` says how it was chosen)."""
    store = prepared.store
    text, text_pair = check_inputs(config.task, _is_pair(prepared), config.check_text, config.check_text_pair)
    checked = check(trained.model_dir, config.task, text, text_pair, config.section(TokenizationConfig), store=store)
    exported = export_if_asked(config, prepared, trained)
    inputs, names = release_of(config, prepared, trained, checked, exported)
    gate = quality_gate(config, store, inputs, names)
    released = release(config.task, inputs, names, gate.card_decision, selection, store=store)
    metrics = read_artifact_json(trained.evaluation_dir, METRICS)
    show_in_ui(config.task, metrics, released.path)
    trained_summary = read_artifact_json(trained.model_dir, TRAIN_SUMMARY)
    track_release(config, store, trained_summary.get("mlflow_run_id"), metrics, released)
    pushed = push_if_published(config, gate.decision, released.path)
    record_release(
        store.root,
        names.model_name,
        Release(
            release_dir=released.path,
            score=gate.decision.challenger,
            weights_sha256=gate.weights_sha256,
            decision=gate.decision,
            pushed_to=pushed.commit_url if pushed else None,
            label_distribution=gate.label_distribution,
        ),
    )
    return RunSummary(
        flow_run_id=str(runtime.flow_run.id),
        model_dir=released.path,
        metrics=metrics,
        check=read_artifact_json(checked.path, CHECK),
        steps=[
            prepared.loaded,
            prepared.reported,
            *([prepared.issues] if prepared.issues else []),
            prepared.tokenized,
            *trained.steps,
            checked,
            *([exported] if exported else []),
            *gate.steps,
            released,
        ],
        decision=gate.decision,
        pushed_to=pushed.commit_url if pushed else None,
        published_check=check_published_model(config, pushed, text, text_pair) if pushed else None,
        transferred_bytes=_transferred_since(prepared) if is_remote(store.root) else None,
        metric=config.metric,
        early_stopping=trained_summary.get("early_stopping"),
    )


def _is_pair(prepared: Prepared) -> bool:
    return is_pair(read_artifact_json(prepared.loaded.path, LOAD_SUMMARY)["columns"])


def export_if_asked(config: FinetuneConfig, prepared: Prepared, trained: TrainEvaluateResult) -> StepReport | None:
    """With ``export onnx``: the model exported to ONNX and checked against PyTorch on the evaluated split."""
    if config.export != "onnx":
        return None
    split = evaluated_split(read_artifact_json(trained.evaluation_dir, METRICS))
    parity = ParityCheck(
        dataset_dir=prepared.loaded.path,
        split=split,
        tokenization=config.section(TokenizationConfig),
        batch_size=config.eval_batch_size,
    )
    return export(trained.model_dir, parity, config.task, config.section(QuantizationConfig), store=prepared.store)


def release_of(
    config: FinetuneConfig,
    prepared: Prepared,
    trained: TrainEvaluateResult,
    checked: StepReport,
    exported: StepReport | None = None,
) -> tuple[ReleaseInputs, ReleaseNames]:
    """What the release is made of, and what its card calls it: the model name is the Hub repo's, or
    ``<base>-finetuned-<task>``."""
    model, kind = prepared.model, profile_of(config.task).short_name
    inputs = ReleaseInputs(
        dataset_dir=prepared.loaded.path,
        report_dir=prepared.reported.path,
        tokenized_dir=prepared.tokenized.path,
        model_dir=trained.model_dir,
        evaluation_dir=trained.evaluation_dir,
        check_dir=checked.path,
        export_dir=exported.path if exported else None,
        issues_dir=prepared.issues.path if prepared.issues else None,
    )
    names = ReleaseNames(
        model_name=config.hub_model_id or f"{Path(model.hub_id or model.location).name}-finetuned-{kind}",
        hub_model_id=config.hub_model_id,
        base_model=model.hub_id or model.location,
        base_model_pickle=model.pickle_weights,
        dataset_hub_id=prepared.source.hub_id,
        license=config.license,
        language=config.language,
        settings=[config.section(DataConfig), config.section(TokenizationConfig), config.section(TrainingConfig)],
    )
    return inputs, names


def show_in_ui(task: TaskName, metrics: dict, release_dir: str) -> None:
    """The scores, the card, the figures, the per-epoch table and the first mistakes, where the Prefect UI shows them."""
    names = profile_of(task).metrics
    rows = [
        {"split": split, **{name: round(value, 4) for name, value in reported_scores(scores, names).items()}}
        for split, scores in metrics.items()
    ]
    create_table_artifact(key=f"{task}-metrics", table=rows, description="Scores of the saved model")
    card = card_for_display(read_artifact(release_dir, CARD).decode())
    create_markdown_artifact(key="model-card", markdown=card, description="README.md of the released model")
    for figure in read_artifact_json(release_dir, f"{PLOTS}/{FIGURES}"):
        key = f"{task}-{Path(figure['file']).stem.replace('_', '-')}"
        image = data_url(read_artifact(release_dir, f"{PLOTS}/{figure['file']}"))
        create_image_artifact(image_url=image, key=key, description=figure["title"])
    epochs = epoch_table(read_artifact_json(release_dir, TRAIN_HISTORY))
    create_table_artifact(
        key="training-epochs", table=epochs, description="Training loss and validation per evaluation"
    )
    split = evaluated_split(metrics)
    if MISTAKES in metrics[split]:
        mistakes = [
            json.loads(line)
            for line in read_artifact(release_dir, f"{ERRORS}/{split}.jsonl").decode().splitlines()[:20]
        ]
        create_table_artifact(
            key=f"{task}-mistakes",
            table=table_rows(mistakes),
            description=f"The first of the {split} split's mistakes, most confident first: "
            f"{describe(metrics[split][MISTAKES], profile_of(task).data_report.EXAMPLES)} (errors/{split}.jsonl)",
        )


def push_if_published(config: FinetuneConfig, decision: Decision, release_dir: str) -> Pushed | None:
    """Push the release when the gate says so and there is a Hub repo to push to."""
    if not decision.publish:
        return None
    if not config.hub_model_id:
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


def track_release(
    config: FinetuneConfig, store: ArtifactStore, run_id: str | None, metrics: dict, released: StepReport
) -> None:
    """Add the final scores and the release to the MLflow run that trained the model (``run_id``, as its train
    summary records it), when the release is new."""
    if config.report_to == "mlflow" and run_id and not released.cached:
        target = mlflow_target(store.local_root())
        track = task(log_release, name="track-release", retries=2, retry_delay_seconds=5)
        track(target, run_id, metrics, profile_of(config.task).metrics, local_dir(released.path))


def check_published_model(config: FinetuneConfig, pushed: Pushed, text: str, text_pair: str | None) -> dict:
    """Download the pushed commit by repo id and run it on the check input, as a user of the repo would."""
    result = check_published(
        pushed.repo_id,
        pushed.commit,
        config.task,
        text,
        text_pair,
        config.hub_token_secret,
        config.section(TokenizationConfig),
    )
    get_run_logger().info(
        f"The model published at {pushed.repo_id} ({pushed.commit[:8]}) loads and runs: "
        + profile_of(config.task).check.describe(result)
    )
    return result


def _transferred_since(prepared: Prepared) -> dict[str, int]:
    now = transferred()
    return {direction: now[direction] - prepared.transferred_before[direction] for direction in now}

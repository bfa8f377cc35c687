"""A run's start, shared by the finetune and sweep flows: check what can be checked before any work,
then load the data, report on it (and rank suspect labels, when asked) and tokenize it."""

import json

from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from pydantic import BaseModel

from flows.train import TrainEvaluateRequest
from tasks.config.recipe import AUTO, with_recipe
from tasks.config.sections import (
    ColumnsConfig,
    DataConfig,
    FinetuneConfig,
    ModelConfig,
    TokenizationConfig,
    TrainingConfig,
)
from tasks.console import set_console
from tasks.data.sources import DatasetSource, resolve_dataset
from tasks.errors import PipelineError
from tasks.hub import hub_token
from tasks.pretrained import ModelSource, hidden_size, resolve_model
from tasks.reports.label_ranking import issue_rows
from tasks.scores.run_metric import label_problem
from tasks.steps.data_report import data_report
from tasks.steps.export import require_onnx_packages
from tasks.steps.label_issues import LabelIssuesRequest, label_issues
from tasks.steps.load import load
from tasks.steps.tokenize import tokenize
from tasks.storage.artifacts import ensure_writable, read_artifact, read_artifact_json, remove_stale_partials
from tasks.storage.buckets import is_remote, transferred
from tasks.storage.catalog import DATA_REPORT, DATA_REPORT_MARKDOWN, LABEL_ISSUES, LABEL_ISSUES_SUMMARY, LOAD_SUMMARY
from tasks.storage.step import ArtifactStore, StepReport
from tasks.tracking import require_tracker


class Prepared(BaseModel):
    """A run's start: its store, model and data source, the loaded data, its report and the tokenized data."""

    store: ArtifactStore
    model: ModelSource
    source: DatasetSource
    loaded: StepReport
    reported: StepReport | None  # None on nodes 1 and up, which only train: the report is for node 0's gate and card
    issues: StepReport | None = None  # with --label-issues, on node 0
    tokenized: StepReport
    transferred_before: dict[str, int]  # `tasks.storage.buckets.transferred` as the run began


def _check_push_settings(config: FinetuneConfig) -> None:
    """Fail before any work when a push is asked for and there is no token to push with."""
    if config.hub_model_id and not hub_token(config.hub_token_secret):
        raise PipelineError(
            f"--hub-model-id {config.hub_model_id} needs a Hub token: set HF_TOKEN, or --hub-token-secret to the "
            "name of a Prefect Secret block that holds one"
        )


def _show_data_report(reported: StepReport, metric: str) -> None:
    """The data report where the Prefect UI shows it, and a warning in the log for each problem it found; its
    notes on the metric too, when the run is judged by the default one they are about."""
    markdown = read_artifact(reported.path, DATA_REPORT_MARKDOWN).decode()
    create_markdown_artifact(key="data-report", markdown=markdown, description="What the loaded data holds")
    report = read_artifact_json(reported.path, DATA_REPORT)
    for problem in report["problems"]:
        get_run_logger().warning(f"Data: {problem}.")
    for note in report["notes"] if metric == "f1" else []:
        get_run_logger().warning(f"Metric: {note}.")


def _show_label_issues(ranked: StepReport) -> None:
    """The most suspect labels as a table in the Prefect UI, and how many there are in the log."""
    issues = [json.loads(line) for line in read_artifact(ranked.path, LABEL_ISSUES).decode().splitlines()[:20]]
    rows = [dict(zip(("where", "example", "given -> suggested", "score"), row)) for row in issue_rows(issues, 20)]
    create_table_artifact(
        key="label-issues", table=rows, description="The most suspect training labels (label_issues.jsonl)"
    )
    found = read_artifact_json(ranked.path, LABEL_ISSUES_SUMMARY)
    get_run_logger().info(
        f"Label issues: {found['suspect']:,} of {found['of']:,} training {found['unit']} have labels "
        f"a model trained on the other half contradicts ({ranked.path}/{LABEL_ISSUES})."
    )


def _check_metric_labels(config: FinetuneConfig, loaded: StepReport) -> None:
    """Fail before tokenizing when --metric names a label the data lacks."""
    problem = label_problem(config.metric, read_artifact_json(loaded.path, LOAD_SUMMARY)["labels"])
    if problem:
        raise PipelineError(problem)


def prepare(config: FinetuneConfig) -> Prepared:
    """Check what can be checked before any work, then load the data, report on it (and rank suspect labels, when asked) and tokenize it."""
    set_console(config.verbose)
    transferred_before = transferred()
    artifacts_dir = config.artifacts_dir if is_remote(config.artifacts_dir) else config.artifacts_dir.resolve()
    ensure_writable(artifacts_dir)
    _check_push_settings(config)
    require_tracker(config.report_to)
    if config.export == "onnx":
        require_onnx_packages()
    store = ArtifactStore(root=artifacts_dir, refresh=config.refresh)
    for leftover in remove_stale_partials(store.local_root()):
        get_run_logger().info(f"Removed {leftover}, left by a run that died while building it.")
    data, model = config.section(DataConfig), resolve_model(config.section(ModelConfig))
    if model.pickle_weights:
        get_run_logger().warning(
            f"Loading the pickle weights of {config.model}: --allow-pickle-weights (on the card too)."
        )
    source = resolve_dataset(data)
    loaded = load(source, data, config.task, store=store)
    _check_metric_labels(config, loaded)
    reported = (
        None if config.node_rank else data_report(loaded.path, model, config.max_length, config.task, store=store)
    )
    if reported:
        _show_data_report(reported, config.metric)
    issues = None
    if config.label_issues and not config.node_rank:
        issues = label_issues(loaded.path, label_issues_request(config, model), config.task, store=store)
        _show_label_issues(issues)
    tokenized = tokenize(loaded.path, model, config.section(TokenizationConfig), config.task, store=store)
    return Prepared(
        store=store,
        model=model,
        source=source,
        loaded=loaded,
        reported=reported,
        issues=issues,
        tokenized=tokenized,
        transferred_before=transferred_before,
    )


def training_of(config: FinetuneConfig, model: ModelSource) -> TrainingConfig:
    """How the run trains, with an auto learning rate and warm-up taken from the model's recipe (`tasks.config.recipe`):
    the train step's key then holds the numbers it trains with."""
    training = config.section(TrainingConfig)
    if AUTO not in (training.learning_rate, training.warmup_ratio):
        return training
    return with_recipe(training, config.task, hidden_size(model))


def label_issues_request(config: FinetuneConfig, model: ModelSource) -> LabelIssuesRequest:
    """What the label issues step needs: how the run tokenizes and trains, and how its files name their columns."""
    return LabelIssuesRequest(
        model=model,
        tokenization=config.section(TokenizationConfig),
        # In this process and untracked: the two models only score each other's half.
        training=training_of(config, model).model_copy(
            update={"report_to": "none", "num_processes": 1, "num_nodes": 1}
        ),
        columns=config.section(ColumnsConfig),
        eval_batch_size=config.eval_batch_size,
    )


def train_evaluate_request(config: FinetuneConfig, prepared: Prepared, tokenized_dir: str) -> TrainEvaluateRequest:
    return TrainEvaluateRequest(
        store=prepared.store,
        dataset_dir=prepared.loaded.path,
        tokenized_dir=tokenized_dir,
        model=prepared.model,
        training=training_of(config, prepared.model),
        tokenization=config.section(TokenizationConfig),
        task=config.task,
        resume=config.resume,
        rdzv_endpoint=config.rdzv_endpoint,
        verbose=config.verbose,
    )

"""What a run settles before its first step, and how the flow turns its config into the steps' inputs.

`preflight` checks what can be checked before any work (the artifacts directory is writable, a push has a
token, the tracker and the ONNX packages are installed), removes what dead runs left, and resolves the model
and the data source once. The other functions build a step's typed request from the config.
"""

from prefect import get_run_logger
from pydantic import BaseModel

from flows.train import TrainEvaluateRequest
from tasks.config.finetune import FinetuneConfig
from tasks.config.recipe import AUTO, with_recipe
from tasks.config.sections import ColumnsConfig, DataConfig, ModelConfig, TokenizationConfig
from tasks.config.training import TrainingConfig
from tasks.console import set_console
from tasks.data.sources import DatasetSource, resolve_dataset
from tasks.errors import PipelineError
from tasks.hub import hub_token
from tasks.pretrained import ModelSource, hidden_size, resolve_model
from tasks.scores.run_metric import label_problem
from tasks.steps.export import require_onnx_packages
from tasks.steps.label_issues import LabelIssuesRequest
from tasks.storage.artifacts import ensure_writable, read_artifact_json, remove_stale_partials
from tasks.storage.buckets import is_remote, transferred
from tasks.storage.catalog import LOAD_SUMMARY
from tasks.storage.step import ArtifactStore, StepReport
from tasks.tracking import require_tracker


class Run(BaseModel):
    """What a run settled before its first step: where it writes, the model and data it starts from."""

    store: ArtifactStore
    model: ModelSource
    source: DatasetSource
    transferred_before: dict[str, int]  # `tasks.storage.buckets.transferred` as the run began


def preflight(config: FinetuneConfig) -> Run:
    """Fail before any work on what can be known now; remove dead runs' leftovers; resolve model and data."""
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
    model = resolve_model(config.section(ModelConfig))
    if model.pickle_weights:
        get_run_logger().warning(
            f"Loading the pickle weights of {config.model}: --allow-pickle-weights (on the card too)."
        )
    source = resolve_dataset(config.section(DataConfig))
    return Run(store=store, model=model, source=source, transferred_before=transferred_before)


def _check_push_settings(config: FinetuneConfig) -> None:
    """Fail before any work when a push is asked for and there is no token to push with."""
    if config.hub_model_id and not hub_token(config.hub_token_secret):
        raise PipelineError(
            f"--hub-model-id {config.hub_model_id} needs a Hub token: set HF_TOKEN, or --hub-token-secret to the "
            "name of a Prefect Secret block that holds one"
        )


def check_metric_labels(config: FinetuneConfig, loaded: StepReport) -> None:
    """Fail before tokenizing when --metric names a label the data lacks."""
    problem = label_problem(config.metric, read_artifact_json(loaded.path, LOAD_SUMMARY)["labels"])
    if problem:
        raise PipelineError(problem)


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


def train_evaluate_request(
    config: FinetuneConfig, run: Run, loaded: StepReport, tokenized: StepReport
) -> TrainEvaluateRequest:
    return TrainEvaluateRequest(
        store=run.store,
        dataset_dir=loaded.path,
        tokenized_dir=tokenized.path,
        model=run.model,
        training=training_of(config, run.model),
        tokenization=config.section(TokenizationConfig),
        task=config.task,
        resume=config.resume,
        rdzv_endpoint=config.rdzv_endpoint,
        verbose=config.verbose,
    )

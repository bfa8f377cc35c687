"""The fine-tuning pipeline flow, and its command line: ``python -m flows.finetune --help``.

This is the only place that knows the order of the steps:
load -> tokenize/align -> train -> evaluate -> check -> model card -> push.
"""

import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, runtime
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from pydantic import BaseModel

from tasks.artifacts import Step, ensure_writable, read_json
from tasks.check import CHECK, CHECK_STEP, check_inputs
from tasks.config import DataConfig, FinetuneConfig, TaskName, ModelConfig, TokenizationConfig, TrainingConfig, parse_command_line
from tasks.errors import PipelineError
from tasks.evaluation import EVALUATE, METRICS
from tasks.hub import hub_token, push_to_hub
from tasks.load import LOAD, SUMMARY as LOAD_SUMMARY
from tasks.sources import resolve_dataset
from tasks.model_card import CARD, RELEASE, headline_metrics
from tasks.pretrained import resolve_model
from tasks.tokenization import TOKENIZE
from tasks.training import TRAIN


class StepReport(BaseModel):
    name: str
    seconds: float
    cached: bool
    path: str


class RunSummary(BaseModel):
    flow_run_id: str
    model_dir: str
    metrics: dict[str, Any]
    check: dict[str, Any]
    steps: list[StepReport]
    pushed_to: str | None


class StepRunner:
    """Runs steps as cached Prefect tasks, each writing into the artifact directory its inputs name."""

    def __init__(self, artifacts_dir: Path, refresh: bool):
        self.artifacts_dir = artifacts_dir
        self.refresh = refresh
        self.reports: list[StepReport] = []

    def run(self, step: Step, **inputs: Any) -> str:
        started = time.perf_counter()
        state = step.run(self.artifacts_dir, self.refresh, inputs)
        path = state.result()
        seconds = time.perf_counter() - started
        self.reports.append(StepReport(name=step.folder, seconds=round(seconds, 1), cached=state.name == "Cached", path=path))
        return path


def _publish_artifacts(task: TaskName, metrics: dict, card: str) -> None:
    names = headline_metrics(task)
    rows = [{"split": split, **{name: round(scores[name], 4) for name in names}} for split, scores in metrics.items()]
    create_table_artifact(key=f"{task}-metrics", table=rows, description="Scores of the saved model")
    create_markdown_artifact(key="model-card", markdown=card, description="README.md of the released model")


def _check_push_settings(config: FinetuneConfig) -> None:
    """Fail before any work when a push is asked for and there is no token to push with."""
    if config.hub_model_id and not hub_token(config.hub_token_secret):
        raise PipelineError(
            f"--hub-model-id {config.hub_model_id} needs a Hub token: set HF_TOKEN, or --hub-token-secret to the "
            "name of a Prefect Secret block that holds one"
        )


def _push(config: FinetuneConfig, release_dir: str) -> str | None:
    if not config.hub_model_id:
        get_run_logger().info("Push to the Hub skipped: set --hub-model-id (and HF_TOKEN) to push.")
        return None
    state = push_to_hub(
        release_dir, config.hub_model_id, config.hub_private, config.hub_revision, config.hub_token_secret,
        return_state=True,
    )  # fmt: skip
    try:
        return state.result()
    except Exception as error:
        raise PipelineError(f"push to {config.hub_model_id} failed: {error}; the model is saved in {release_dir}") from error


@flow(name="finetune")
def finetune(config: FinetuneConfig = FinetuneConfig()) -> RunSummary:
    """Fine-tune a pretrained encoder for NER, evaluate it, check it, write its card, push it."""
    artifacts_dir = config.artifacts_dir.resolve()
    ensure_writable(artifacts_dir)
    _check_push_settings(config)
    data, model = config.section(DataConfig), resolve_model(config.section(ModelConfig))
    source = resolve_dataset(data)
    steps = StepRunner(artifacts_dir, config.refresh)
    dataset_dir = steps.run(LOAD, source=source, data=data, task=config.task)
    tokenization = config.section(TokenizationConfig)
    tokenized_dir = steps.run(TOKENIZE, dataset_dir=dataset_dir, model=model, tokenization=tokenization, task=config.task)
    training = config.section(TrainingConfig)
    model_dir = steps.run(
        TRAIN, tokenized_dir=tokenized_dir, model=model, training=training, task=config.task, resume=config.resume
    )
    evaluation_dir = steps.run(
        EVALUATE, model_dir=model_dir, dataset_dir=dataset_dir,
        max_length=tokenization.max_length, batch_size=training.eval_batch_size, task=config.task,
    )  # fmt: skip
    pair = "text_pair" in read_json(Path(dataset_dir) / LOAD_SUMMARY)["columns"]
    text, text_pair = check_inputs(config.task, pair, config.check_text, config.check_text_pair)
    check_dir = steps.run(CHECK_STEP, model_dir=model_dir, task=config.task, text=text, text_pair=text_pair)
    release_dir = steps.run(
        RELEASE, task=config.task, model_dir=model_dir, dataset_dir=dataset_dir, evaluation_dir=evaluation_dir,
        check_dir=check_dir, hub_model_id=config.hub_model_id,
        model_name=f"{Path(model.hub_id or model.location).name}-finetuned-{'ner' if config.task == 'ner' else 'classification'}",
        base_model=model.hub_id or model.location,
        dataset_hub_id=source.hub_id,
        settings=[data, tokenization, training],
    )  # fmt: skip
    metrics = read_json(Path(evaluation_dir) / METRICS)
    _publish_artifacts(config.task, metrics, (Path(release_dir) / CARD).read_text())
    pushed_to = _push(config, release_dir)
    return RunSummary(
        flow_run_id=str(runtime.flow_run.id),
        model_dir=release_dir,
        metrics=metrics,
        check=read_json(Path(check_dir) / CHECK),
        steps=steps.reports,
        pushed_to=pushed_to,
    )


def _check_line(check: dict) -> str:
    if "entities" in check:
        return ", ".join(f"{e['entity_group']} '{e['word']}' ({e['score']:.2f})" for e in check["entities"]) or "none"
    return f"{check['prediction']['label']} ({check['prediction']['score']:.2f})"


def format_summary(summary: RunSummary) -> str:
    scores = ", ".join(
        f"{split} " + " ".join(f"{name} {values[name]:.4f}" for name in ("accuracy", "f1") if name in values)
        for split, values in summary.metrics.items()
    )
    lines = [
        f"Model:    {summary.model_dir}",
        f"Scores:   {scores}",
        f"Check:    {_check_line(summary.check)}",
        f"Pushed:   {summary.pushed_to or 'no'}",
        "Steps:",
    ]
    lines += [f"  {step.name:<11} {step.seconds:7.1f} s  {'cached' if step.cached else 'ran'}" for step in summary.steps]
    return "\n".join(lines)


class _HideUserErrorTracebacks(logging.Filter):
    """A PipelineError is the user's to fix: log its message, not the engine's traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], PipelineError):
            record.exc_info, record.exc_text = None, None
        return True


def main(argv: list[str] | None = None) -> int:
    try:
        config, summary_json = parse_command_line(argv)
    except PipelineError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    for name in ("prefect.flow_runs", "prefect.task_runs"):
        logging.getLogger(name).addFilter(_HideUserErrorTracebacks())
    try:
        summary = finetune(config)
    except PipelineError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(format_summary(summary))
    if summary_json:
        summary_json.write_text(summary.model_dump_json(indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

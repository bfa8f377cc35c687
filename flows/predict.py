"""The batch prediction flow, and its command line: ``python -m flows.predict --help``.

Its body is the pipeline: preflight, which finds the model (a release, a Hub id, or what the registry publishes)
-> read the input -> export to ONNX when the runtime needs it and the release ships none -> predict -> show.
Reading and predicting are cached steps: the same input and model again cost nothing.
"""
# The command line is checked before the imports that take seconds, hence imports below code.

import json
import sys

if __name__ == "__main__":
    from tasks.config.command_line import exit_on_bad_command_line
    from tasks.config.prediction import parse_command_line

    exit_on_bad_command_line(sys.argv[1:], parse_command_line)
    from flows.temporary_server import TemporaryServer, without_telemetry

    without_telemetry()
    TEMPORARY_SERVER = TemporaryServer.start_unless_configured()

from pathlib import Path

from prefect import flow, get_run_logger, runtime
from prefect.artifacts import create_table_artifact
from pydantic import BaseModel

from tasks.config.prediction import PUBLISHED, PredictConfig
from tasks.config.sections import ColumnsConfig, QuantizationConfig, TokenizationConfig
from tasks.console import set_console
from tasks.data.context import TRAINED_CONTEXT
from tasks.errors import PipelineError
from tasks.hub import download_published
from tasks.reports.markdown import shortened
from tasks.scores.quality_gate import registered_names, registry_published
from tasks.steps.export import ParityCheck, describe as describe_parity, export, require_onnx_packages
from tasks.steps.predict import PredictionModel, PredictionSettings, predict, prediction_model, with_export
from tasks.steps.read import INPUT_SPLIT, read, resolve_input
from tasks.storage.artifacts import ensure_writable, local_dir, read_artifact_json
from tasks.storage.buckets import is_remote
from tasks.storage.catalog import (
    CLASSIFICATION_OUTPUTS,
    INPUT_SUMMARY,
    NER_OUTPUTS,
    PARITY,
    PREDICTION_SUMMARY,
    PUBLISHED_DOWNLOADS,
)
from tasks.storage.step import ArtifactStore, StepReport

_SHOWN_ROWS = 10


class PredictSummary(BaseModel):
    """What a prediction run did: the model and input, what it predicted and where, how fast."""

    flow_run_id: str
    model: PredictionModel
    input: dict  # the input's source: location, format, digest
    rows: int
    problems: list[str]  # rows left out, by line
    counts: dict  # windowed (NER) or truncated (classification) inputs, and entities or labels found
    rows_per_second: float | None  # None for --export-only
    output_dir: str | None
    outputs: list[str]
    scores: dict | None
    parity: dict | None  # the ONNX export's check, when this run exported
    steps: list[StepReport]

    def describe(self) -> str:
        model = self.model
        runs = f"{model.runtime}" + (f", {Path(model.onnx_file).name}" if model.onnx_file else "")
        left_out = f", {len(self.problems)} left out ({'; '.join(self.problems[:3])})" if self.problems else ""
        rows = "sentences" if model.task == "ner" else "texts"
        lines = [
            f"Model:    {model.location} (weights sha256 {model.weights_sha256[:12]}, {runs})",
            f"Input:    {self.input['location']} (digest {self.input.get('digest')}): {self.rows} {rows}{left_out}",
            *(
                [f"Windowed: {self.counts['windowed']} sentences longer than the model's length"]
                if "windowed" in self.counts
                else []
            ),
            *(
                [f"Truncated: {self.counts['truncated']} texts longer than the model's length"]
                if "truncated" in self.counts
                else []
            ),
            *([f"Found:    {_found(self.counts)}"] if "entities" in self.counts or "labels" in self.counts else []),
            *([f"Speed:    {self.rows_per_second:.1f} {rows}/s"] if self.rows_per_second else []),
            *([f"Scores:   {_scores(self.scores)}"] if self.scores else []),
            *([f"ONNX:     {describe_parity(self.parity)}"] if self.parity else []),
            *([f"Output:   {self.output_dir}: {', '.join(self.outputs)}"] if self.output_dir else []),
            "Steps:    "
            + ", ".join(f"{s.name} {s.seconds:.1f} s{' (reused)' if s.cached else ''}" for s in self.steps),
        ]
        return "\n".join(lines)


def _found(counts: dict) -> str:
    found = counts.get("entities", counts.get("labels"))
    return ", ".join(f"{name} {count}" for name, count in found.items()) or "no entity"


def _scores(scores: dict) -> str:
    return " ".join(
        f"{name} {scores[name]:.4f}" for name in ("accuracy", "precision", "recall", "f1") if name in scores
    )


def published_model_dir(model: str, root: Path | str) -> Path:
    """The release the registry of ``root`` names as published: for ``published:<name>``, that model's; for
    ``published``, the one model's the registry holds."""
    names = registered_names(root)
    name = model.partition(":")[2]
    if not name and len(names) != 1:
        raise PipelineError(
            f"the registry of {root} holds {len(names)} models ({', '.join(names) or 'none'}): "
            f"name one as {PUBLISHED}:<model name>"
            if names
            else f"no model is published in {root} yet: run finetune first"
        )
    release = registry_published(root, name or names[0])
    if release is None:
        raise PipelineError(f"no release of {name or names[0]} is published in {root}")
    return local_dir(release.release_dir)


def locate_model(config: PredictConfig, store: ArtifactStore) -> Path:
    """The model's directory on this machine: a release, the published one, or a Hub model downloaded."""
    if config.model == PUBLISHED or config.model.startswith(f"{PUBLISHED}:"):
        return published_model_dir(config.model, store.root)
    path = Path(config.model).expanduser()
    if path.exists():
        return path.resolve()
    if config.model.startswith(("/", ".", "~")):
        raise PipelineError(f"model directory not found: {config.model}")
    repo_id, _, revision = config.model.partition("@")
    return download_published(
        repo_id, revision or None, store.local_root() / PUBLISHED_DOWNLOADS, config.hub_token_secret
    )


def tokenization_of(config: PredictConfig, model_dir: Path) -> TokenizationConfig:
    """The inputs' length, windows and context: the ones set, else the length the model was trained with (its
    tokenizer records it), capped at the positions the model has, and the context it was trained with (its
    config records it; none before context was)."""
    from tasks.pretrained import load_tokenizer

    model_config = read_artifact_json(model_dir, "config.json")
    trained = min(load_tokenizer(str(model_dir)).model_max_length, model_config.get("max_position_embeddings", 512))
    context = model_config.get(TRAINED_CONTEXT, 0) if config.context is None else config.context
    return TokenizationConfig(max_length=config.max_length or trained, stride=config.stride, context=context)


def show_predictions(model: PredictionModel, output_dir: Path) -> None:
    """The first rows with what was predicted (before their text, which may be long), and what was found in
    all, where the Prefect UI shows them."""
    outputs = NER_OUTPUTS if model.task == "ner" else CLASSIFICATION_OUTPUTS
    with open(output_dir / outputs[-1], encoding="utf-8") as lines:
        first = [json.loads(line) for line, _ in zip(lines, range(_SHOWN_ROWS))]
    if model.task == "ner":
        table = [
            {
                "line": row["line"],
                "entities": "; ".join(f"{e['entity_group']} {e['word']}" for e in row["entities"]),
                "text": shortened(row["text"]),
            }
            for row in first
        ]
    else:
        table = [
            {
                "line": row["line"],
                "label": row["label"],
                "probability": row["probabilities"][row["label"]],
                "text": shortened(row["text"]),
            }
            for row in first
        ]
    create_table_artifact(
        key="predictions", table=table, description=f"The first {len(first)} rows and their predictions"
    )
    summary = read_artifact_json(output_dir, PREDICTION_SUMMARY)
    found = summary.get("entities") if model.task == "ner" else summary.get("labels")
    create_table_artifact(
        key="predicted-counts",
        table=[{"predicted": name, "count": count} for name, count in found.items()],
        description="Entities found, by type" if model.task == "ner" else "Rows per predicted label",
    )


def preflight(config: PredictConfig) -> tuple[ArtifactStore, PredictionModel]:
    """Fail before any work on what can be known now (the artifacts directory is writable, the ONNX packages are
    installed when needed), and find the model: where the run writes, and what it predicts with."""
    set_console(config.verbose)
    root = config.artifacts_dir if is_remote(config.artifacts_dir) else config.artifacts_dir.resolve()
    ensure_writable(root)
    store = ArtifactStore(root=root, refresh=config.refresh)
    if config.runtime == "onnx" or config.export_only:
        require_onnx_packages()
    model = prediction_model(locate_model(config, store), config.runtime, config.allow_pickle_weights)
    if model.pickle_weights:
        get_run_logger().warning(f"Loading the pickle weights of {model.location}: --allow-pickle-weights.")
    return store, model


def check_rows(config: PredictConfig, rows: StepReport) -> None:
    """Warn of the input rows that could not be read (left out); with --strict, refuse them."""
    read_rows = read_artifact_json(rows.path, INPUT_SUMMARY)
    problems = read_rows["problems"]
    if problems and config.strict:
        raise PipelineError(
            f"{read_rows['source']['location']} {problems[0]} (--strict); {len(problems)} rows in all are unreadable"
        )
    for problem in problems[:_SHOWN_ROWS]:
        get_run_logger().warning(f"Input {problem}: left out.")


def needs_export(config: PredictConfig, model: PredictionModel) -> bool:
    """Whether this run exports the model: asked to only export, or the ONNX runtime and no ONNX file shipped."""
    return config.export_only or (config.runtime == "onnx" and model.onnx_file is None)


@flow(name="predict")
def predict_flow(config: PredictConfig) -> PredictSummary:
    """Run a fine-tuned model over new data: NER tags and entities, or labels with every class's probability."""
    store, model = preflight(config)
    tokenization = tokenization_of(config, Path(model.location))
    source = resolve_input(config.input, config.split, config.input_format)
    rows = read(source, config.section(ColumnsConfig), model.task, model.labels(), store=store)
    check_rows(config, rows)
    exported = export_onnx(config, store, model, rows.path, tokenization) if needs_export(config, model) else None
    if config.export_only:
        return summarize(config, model, [rows, exported])
    model = with_export(model, local_dir(exported.path)) if exported else model
    settings = PredictionSettings(tokenization=tokenization, batch_size=config.batch_size, score=config.score)
    predicted = predict(model, rows.path, settings, store=store)
    show_predictions(model, local_dir(predicted.path))
    return summarize(config, model, [rows, exported, predicted])


def export_onnx(
    config: PredictConfig,
    store: ArtifactStore,
    model: PredictionModel,
    input_dir: str,
    tokenization: TokenizationConfig,
) -> StepReport:
    """Export the model and check it on the input, which must hold tags or labels to be scored."""
    unscorable = read_artifact_json(input_dir, INPUT_SUMMARY)["unscorable"]
    if unscorable:
        raise PipelineError(f"the ONNX export is checked on the input against PyTorch, by F1: {unscorable}")
    parity = ParityCheck(
        dataset_dir=input_dir, split=INPUT_SPLIT, tokenization=tokenization, batch_size=config.batch_size
    )
    return export(model.location, parity, model.task, config.section(QuantizationConfig), store=store)


def summarize(config: PredictConfig, model: PredictionModel, taken: list[StepReport | None]) -> PredictSummary:
    """The run's summary from the steps it took (None for an export it did not need)."""
    steps = [step for step in taken if step]
    by_name = {step.name: step for step in steps}
    read_rows = read_artifact_json(by_name["read"].path, INPUT_SUMMARY)
    predicted = read_artifact_json(by_name["predict"].path, PREDICTION_SUMMARY) if "predict" in by_name else {}
    parity = read_artifact_json(by_name["export"].path, PARITY) if "export" in by_name else None
    counts = {name: predicted[name] for name in ("windowed", "truncated", "entities", "labels") if name in predicted}
    return PredictSummary(
        flow_run_id=str(runtime.flow_run.id),
        model=model,
        input=read_rows["source"],
        rows=read_rows["rows"],
        problems=read_rows["problems"],
        counts=counts,
        rows_per_second=predicted.get("rows_per_second"),
        output_dir=steps[-1].path if predicted or parity else None,
        outputs=predicted.get("outputs", parity and parity["shipped"]),
        scores=predicted.get("scores"),
        parity=parity,
        steps=steps,
    )


def main(argv: list[str] | None = None, server=None) -> int:
    """The command line of the predict flow (`flows.cli.run_command_line`)."""
    from flows.cli import run_command_line
    from tasks.config.prediction import parse_command_line

    return run_command_line(argv, server, parse_command_line, predict_flow, lambda config, summary: summary.describe())


if __name__ == "__main__":
    sys.exit(main(server=TEMPORARY_SERVER))

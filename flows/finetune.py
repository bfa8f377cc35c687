"""The fine-tuning pipeline flow, and its command line: ``python -m flows.finetune --help`` (`main`).

The flow's body is the pipeline, a step a line: preflight (`flows.preflight`), load -> data report -> label
issues -> tokenize -> train -> evaluate (together, on the GPU pool when configured: `flows.train`) -> check ->
export -> quality gate -> release (the card) -> push -> record. Each step is `tasks/steps/<its name>.py`.
"""
# The command line is checked before the imports that take seconds, hence imports below code.

import sys

if __name__ == "__main__":
    # Before Prefect, torch and transformers load (seconds on a small machine): --help and a
    # mistyped option answer at once. main() parses the options again, in milliseconds.
    from tasks.config.command_line import exit_on_bad_command_line

    exit_on_bad_command_line(sys.argv[1:])
    from flows.temporary_server import TemporaryServer, without_telemetry

    # Prefect's temporary server, when the run needs one, starts now and comes up while the rest loads.
    without_telemetry()
    TEMPORARY_SERVER = TemporaryServer.start_unless_configured()


from prefect import flow, get_run_logger, runtime
from pydantic import BaseModel

from flows.cli import format_summary, run_command_line
from flows.gate import quality_gate
from flows.preflight import (
    Run,
    check_metric_labels,
    label_issues_request,
    preflight,
    train_evaluate_request,
    training_of,
)
from flows.publish import (
    Outcome,
    RunSummary,
    check_input,
    check_pushed,
    parity_check,
    push,
    record,
    release_inputs,
    release_names,
    summary,
    track,
)
from flows.temporary_server import TemporaryServer
from flows.train import run_train_evaluate
from flows.ui import show_data_report, show_label_issues, show_release
from tasks.config.command_line import parse_command_line
from tasks.config.finetune import FinetuneConfig
from tasks.config.sections import DataConfig, QuantizationConfig, TokenizationConfig
from tasks.reports.card_facts import Selection
from tasks.steps.check import check
from tasks.steps.data_report import data_report
from tasks.steps.export import export
from tasks.steps.label_issues import label_issues
from tasks.steps.load import load
from tasks.steps.release import release
from tasks.steps.tokenize import tokenize
from tasks.steps.train import join_training
from tasks.storage.artifacts import local_dir
from tasks.storage.step import StepReport


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


@flow(name="finetune")
def finetune(
    config: FinetuneConfig = FinetuneConfig(), selection: Selection | None = None
) -> RunSummary | JoinedSummary:
    """Fine-tune a pretrained encoder, evaluate it, check it, write its card, push it; on node 1 and up of a
    multi-node run, only train with node 0.

    Args:
        config: The run's settings: every option of ``python -m flows.finetune --help``.
        selection: Left empty by a run of its own; the sweep flow sets it for its winner (how the sweep chose
            these settings, for the card).
    """
    run, task, tokenization = preflight(config), config.task, config.section(TokenizationConfig)
    loaded = load(run.source, config.section(DataConfig), task, store=run.store)
    check_metric_labels(config, loaded)
    if config.node_rank:
        return join_as_node(config, run, loaded)
    reported = data_report(loaded.path, run.model, config.max_length, task, store=run.store)
    show_data_report(reported, config.metric)
    issues = (
        label_issues(loaded.path, label_issues_request(config, run.model), task, store=run.store)
        if config.label_issues
        else None
    )
    show_label_issues(issues)
    tokenized = tokenize(loaded.path, run.model, tokenization, task, store=run.store)
    trained = run_train_evaluate(config.train_deployment, train_evaluate_request(config, run, loaded, tokenized))
    checked = check(trained.model_dir, task, *check_input(config, loaded), tokenization, store=run.store)
    exported = (
        export(
            trained.model_dir,
            parity_check(config, loaded, trained),
            task,
            config.section(QuantizationConfig),
            store=run.store,
        )
        if config.export == "onnx"
        else None
    )
    built = [loaded, reported, issues, tokenized, *trained.steps, checked, exported]
    inputs, names = release_inputs(built), release_names(config, run)
    gate = quality_gate(config, run.store, inputs, names)
    released = release(task, inputs, names, gate.card_decision, selection, store=run.store)
    show_release(task, trained.evaluation_dir, released)
    track(config, run.store, trained, released)
    pushed = push(config, gate.decision, released.path)
    record(run.store, names, gate, released, pushed)
    published_check = check_pushed(config, pushed, check_input(config, loaded))
    return summary(
        config,
        run,
        trained,
        Outcome(steps=[*built, *gate.steps, released], gate=gate, pushed=pushed, published_check=published_check),
    )


def join_as_node(config: FinetuneConfig, run: Run, loaded: StepReport) -> JoinedSummary:
    """Node 1 and up of a multi-node run: tokenize, and train with node 0, which writes, evaluates and publishes
    (the data report is node 0's, for its gate and card)."""
    tokenized = tokenize(loaded.path, run.model, config.section(TokenizationConfig), config.task, store=run.store)
    join_training(
        str(local_dir(tokenized.path)),
        run.model,
        training_of(config, run.model),
        config.task,
        config.node_rank,
        config.rdzv_endpoint,
    )
    joined = JoinedSummary(
        flow_run_id=str(runtime.flow_run.id),
        node_rank=config.node_rank,
        num_nodes=config.num_nodes,
        rdzv_endpoint=config.rdzv_endpoint,
        steps=[loaded, tokenized],
    )
    get_run_logger().info(joined.describe())
    return joined


def main(argv: list[str] | None = None, server: TemporaryServer | None = None) -> int:
    """The command line, ``python -m flows.finetune`` and the ``finetune`` script (`flows.cli.run_command_line`)."""

    def describe(config: FinetuneConfig, summary: RunSummary | JoinedSummary) -> str:
        return summary.describe() if isinstance(summary, JoinedSummary) else format_summary(config.task, summary)

    return run_command_line(argv, server, parse_command_line, finetune, describe)


if __name__ == "__main__":
    sys.exit(main(server=TEMPORARY_SERVER))

"""The fine-tuning pipeline flow, and its command line: ``python -m flows.finetune --help`` (`main`).

The flow's body is the pipeline: prepare (load -> data report -> tokenize/align, `flows.prepare`), train ->
evaluate (`flows.train`), then check -> quality gate -> model card -> push -> record (`flows.after_training`).
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

from flows.after_training import RunSummary, after_training
from flows.cli import format_summary, run_command_line
from flows.prepare import Prepared, prepare, train_evaluate_request, training_of
from flows.temporary_server import TemporaryServer
from flows.train import TrainEvaluateRequest, TrainEvaluateResult, run_on_deployment, train_and_evaluate
from tasks.config.command_line import parse_command_line
from tasks.config.sections import FinetuneConfig
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


def run_train_evaluate(config: FinetuneConfig, request: TrainEvaluateRequest) -> TrainEvaluateResult:
    """The GPU side: a subflow here, or a run of the configured deployment on its work pool."""
    if not config.train_deployment:
        return train_and_evaluate(request)
    get_run_logger().info(f"Training and evaluating as a run of deployment {config.train_deployment}.")
    return run_on_deployment(config.train_deployment, request)


def join_as_node(config: FinetuneConfig, prepared: Prepared) -> JoinedSummary:
    """Node 1 and up of a multi-node run: train with node 0, which writes, evaluates and publishes."""
    tokenized = str(local_dir(prepared.tokenized.path))
    join_training(
        tokenized,
        prepared.model,
        training_of(config, prepared.model),
        config.task,
        config.node_rank,
        config.rdzv_endpoint,
    )
    joined = JoinedSummary(
        flow_run_id=str(runtime.flow_run.id),
        node_rank=config.node_rank,
        num_nodes=config.num_nodes,
        rdzv_endpoint=config.rdzv_endpoint,
        steps=[prepared.loaded, prepared.tokenized],
    )
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
    return after_training(config, prepared, trained)


def main(argv: list[str] | None = None, server: TemporaryServer | None = None) -> int:
    """The command line, ``python -m flows.finetune`` and the ``finetune`` script (`flows.cli.run_command_line`)."""

    def describe(config: FinetuneConfig, summary: RunSummary | JoinedSummary) -> str:
        return summary.describe() if isinstance(summary, JoinedSummary) else format_summary(config.task, summary)

    return run_command_line(argv, server, parse_command_line, finetune, describe)


if __name__ == "__main__":
    sys.exit(main(server=TEMPORARY_SERVER))

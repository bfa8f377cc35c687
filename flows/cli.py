"""What the flows' command lines share (each flow's ``main`` calls it): parse the options, run the flow against
a Prefect server, print its summary and turn a user's error into one line. It imports no flow, so that
``python -m flows.finetune`` loads its file once."""

import logging
import signal
import sys

from prefect.settings import temporary_settings

from flows.publish import RunSummary
from flows.temporary_server import START_SECONDS, TemporaryServer, without_telemetry
from tasks.config.sections import TaskName
from tasks.errors import PipelineError
from tasks.profiles import profile_of
from tasks.scores.quality_gate import Decision
from tasks.scores.run_metric import describe_early_stopping, metric_title, metric_value, scored_names


def format_summary(task: TaskName, summary: RunSummary) -> str:
    check_line = profile_of(task).check.describe
    names = scored_names(("accuracy", "f1"), summary.metric)
    scores = ", ".join(
        f"{split} " + " ".join(f"{name} {metric_value(values, name):.4f}" for name in names)
        for split, values in summary.metrics.items()
    )
    lines = [
        f"Model:    {summary.model_dir}",
        f"Scores:   {scores}",
        *([f"Judged:   by {summary.metric} ({metric_title(summary.metric)})"] if summary.metric != "f1" else []),
        *([f"Training: {describe_early_stopping(summary.early_stopping)}"] if summary.early_stopping else []),
        f"Check:    {check_line(summary.check)}",
        f"Gate:     {'publish' if summary.decision.publish else 'keep the published model'}: {summary.decision.reason}",
        f"Pushed:   {summary.pushed_to or _not_pushed(summary.decision)}",
        *([f"Hub check: {check_line(summary.published_check)}"] if summary.published_check else []),
        *([f"Bucket:   {_megabytes(summary.transferred_bytes)}"] if summary.transferred_bytes is not None else []),
        "Steps:    "
        + ", ".join(f"{step.name} {step.seconds:.1f} s{' (reused)' if step.cached else ''}" for step in summary.steps),
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
    """With PREFECT_API_URL set, fail in one line when that server cannot be reached, or refuses this client."""
    from prefect import get_client
    from prefect.exceptions import PrefectHTTPStatusError
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url:
        return
    with get_client(sync_client=True) as client:
        error = client.api_healthcheck()  # answered without credentials
        if error:
            raise PipelineError(
                f"cannot reach the Prefect server at {url} (PREFECT_API_URL): {error}; start it with prefect server "
                "start, or unset PREFECT_API_URL to run with a temporary local server"
            )
        try:
            client.api_version()
        except PrefectHTTPStatusError as refused:
            if refused.response.status_code != 401:
                raise
            raise PipelineError(
                f"the Prefect server at {url} refused this client (HTTP 401): it is protected by "
                "PREFECT_SERVER_API_AUTH_STRING; set PREFECT_API_AUTH_STRING to the same user:password"
            ) from None


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
    signal.signal(signal.SIGTERM, _stopped)
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


def _stopped(signum: int, frame) -> None:
    """SIGTERM (a person, the system, a worker whose run was cancelled): Prefect's engine, which takes the signal
    while a flow runs, records the run as crashed, then passes the signal on to this handler."""
    print(
        "stopped by a termination signal: the steps it finished are kept, and training's checkpoints: the same "
        "command with --resume goes on from the last one",
        file=sys.stderr,
        flush=True,
    )
    sys.exit(128 + signum)

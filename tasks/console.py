"""What a run prints. Quiet by default: one log line per step and per evaluation, one live bar for
training and one for each evaluated split. ``--verbose`` shows the libraries' own output as well:
datasets' progress bars, transformers' load reports and warnings, the Trainer's raw metric dicts, and
Prefect's line at the end of every task run.
"""

import logging
import os

# Set for --verbose, in this process and so in the training processes it starts.
VERBOSE = "FINETUNE_VERBOSE"
# The libraries' own switches, read by the processes this one starts (torchrun workers) as they import them.
QUIET_LIBRARIES = {
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
}
COMPLETED = "Finished in state Completed()"


def is_verbose() -> bool:
    return os.environ.get(VERBOSE) == "1"


class _DropCompletedTaskRuns(logging.Filter):
    """A completed task run says so in a line that names neither the step nor whether it ran: the step's
    own line (`tasks.storage.artifacts`) says both."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != COMPLETED


_TASK_RUN_FILTER = _DropCompletedTaskRuns()
_set_here: set[str] = set()  # the QUIET_LIBRARIES variables set by this process, not by the user


def set_console(verbose: bool) -> None:
    """Quiet the libraries (or not, with ``verbose``) in this process and the ones it starts."""
    import datasets
    import transformers.utils.logging as transformers_logging

    task_runs = logging.getLogger("prefect.task_runs")
    if verbose:
        os.environ[VERBOSE] = "1"
        for name in _set_here:
            os.environ.pop(name, None)
        _set_here.clear()
        datasets.enable_progress_bars()
        transformers_logging.enable_progress_bar()
        transformers_logging.set_verbosity_warning()
        task_runs.removeFilter(_TASK_RUN_FILTER)
        return
    os.environ.pop(VERBOSE, None)
    for name, value in QUIET_LIBRARIES.items():
        if name not in os.environ:  # a user's own setting stands
            os.environ[name] = value
            _set_here.add(name)
    datasets.disable_progress_bars()
    transformers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()
    task_runs.addFilter(_TASK_RUN_FILTER)


def run_logger() -> logging.Logger | logging.LoggerAdapter:
    """The run's logger inside a Prefect run, so the UI shows the message; this module's outside one (Prefect
    is imported only when asked: the training processes, which print through this module, never load it)."""
    from prefect import get_run_logger
    from prefect.exceptions import MissingContextError

    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger(__name__)

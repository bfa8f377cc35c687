"""The one exception type for problems the user can fix."""

from pathlib import Path


class PipelineError(Exception):
    """Bad input or environment: reported as one message, without a traceback."""


def first_line(error: Exception) -> str:
    """An exception's first non-blank line, for a message of one line; its type's name when it says nothing."""
    return next((line for line in str(error).splitlines() if line.strip()), type(error).__name__)


def not_a_user_error(task, task_run, state) -> bool:
    """A Prefect ``retry_condition_fn``: retry network hiccups, never a PipelineError."""
    try:
        state.result()
    except PipelineError:
        return False
    except Exception:
        return True
    return False


def cannot_write(folder: Path, error: OSError) -> PipelineError:
    return PipelineError(f"cannot write artifacts under {folder}: {error.strerror}")

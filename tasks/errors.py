"""The one exception type for problems the user can fix."""


class PipelineError(Exception):
    """Bad input or environment: reported as one message, without a traceback."""


def not_a_user_error(task, task_run, state) -> bool:
    """A Prefect ``retry_condition_fn``: retry network hiccups, never a PipelineError."""
    try:
        state.result()
    except PipelineError:
        return False
    except Exception:
        return True
    return False

"""The one exception type for problems the user can fix."""


class PipelineError(Exception):
    """Bad input or environment: reported as one message, without a traceback."""

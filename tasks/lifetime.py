"""Processes that never outlive the process that started them: a run that is cancelled (SIGTERM from its
worker) or killed leaves no training process or server behind. On Linux a child asks the kernel for
SIGTERM when its parent dies (PR_SET_PDEATHSIG), which also covers a parent killed by SIGKILL."""

import ctypes
import signal
import sys

_PR_SET_PDEATHSIG = 1
# Run in the child before it becomes the command asked for: execv keeps the request.
_DIE_WITH_PARENT = (
    "import ctypes, os, signal, sys; ctypes.CDLL(None).prctl(1, signal.SIGTERM); os.execv(sys.executable, sys.argv[1:])"
)


def dying_with_parent(arguments: list[str]) -> list[str]:
    """The command line that runs ``python3 *arguments`` as a process that receives SIGTERM when the thread
    that starts it ends (its parent's, in a process whose steps run on its main thread)."""
    launcher = ["-c", _DIE_WITH_PARENT, sys.executable] if sys.platform.startswith("linux") else []
    return [sys.executable, *launcher, *arguments]


def die_with_parent() -> None:
    """Receive SIGTERM when this process's parent dies: for processes another program starts (torchrun's
    workers), which `dying_with_parent` cannot wrap."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

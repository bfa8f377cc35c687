"""Locks that make runs take turns: an exclusive ``flock`` per artifact, so that two runs needing the same
artifact build it once (the second waits, then finds it complete). The kernel releases a flock when its
holder's process dies, so a crashed run never leaves a lock behind.
"""

import fcntl
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from tasks.console import run_logger
from tasks.errors import cannot_write


@contextmanager
def file_lock(lock_path: Path, holder: str) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``lock_path``, waiting while ``holder`` has it (logged once).

    The kernel releases a flock when its holder's process dies, so a crashed run never
    leaves a lock behind. The lock file itself stays: removing it would let a waiter and a
    newcomer lock two different files of the same name.
    """
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        lock_file = open(lock_path, "a")
    except OSError as error:
        raise cannot_write(lock_path.parent, error) from error
    with lock_file:  # closing the file releases the lock
        if not try_lock(lock_file):
            run_logger().info(f"Waiting for {holder}.")
            fcntl.flock(lock_file, fcntl.LOCK_EX)
        yield


def try_lock(lock_file: Any) -> bool:
    try:
        fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def lock_path(out_dir: Path) -> Path:
    return out_dir.parent / f".{out_dir.name}.lock"


def artifact_lock(out_dir: Path) -> AbstractContextManager[None]:
    """Hold ``out_dir``'s lock while checking whether it is complete and building it if not, so
    that two runs needing the same artifact build it once: the second waits, then finds it complete.

    `building` does not take it: a second flock in the same process would wait for itself.
    """
    out_dir = Path(out_dir)
    return file_lock(lock_path(out_dir), f"another run building {out_dir}")

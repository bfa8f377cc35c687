"""A run stopped from outside while it trains in two torchrun processes: by SIGTERM, as a worker stops a run
cancelled from the UI or with ``prefect flow-run cancel``, or by SIGKILL. Within 30 s nothing it started is
left (torchrun and its workers; the server stays, as a team's server does), and its checkpoints stay for
--resume. (`test_temporary_server.py` kills a run that started its own server.)"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO
from prefect_server import wait_for

pytestmark = pytest.mark.slow


def descendants(pid: int) -> set[int]:
    """Every living process under ``pid``, read from /proc."""
    parents = {}
    for entry in Path("/proc").iterdir():
        try:
            parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (ValueError, OSError, IndexError):
            continue
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has ended; only its parent's wait is missing


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_a_stopped_run_leaves_no_process_and_keeps_its_checkpoints(
    stop, prefect_server, tiny_model, conll_sample, tmp_path
):
    from prefect.settings import PREFECT_API_URL

    artifacts = tmp_path / "artifacts"
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
    command = [sys.executable, "-m", "flows.finetune", "--model", str(tiny_model), "--dataset", str(conll_sample),
               "--artifacts-dir", str(artifacts), "--num-processes", "2", "--epochs", "400", "--batch-size", "8"]  # fmt: skip
    run = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        checkpoints = artifacts / "checkpoints"
        trained = lambda: any(checkpoints.glob("*/checkpoint-*/trainer_state.json"))  # noqa: E731
        wait_for(lambda: trained() or run.poll() is not None, 120, "a complete epoch checkpoint")
        assert run.poll() is None, run.communicate()[0][-3000:]
        started = descendants(run.pid)
        assert len(started) >= 3, "torchrun and its two workers"
        os.kill(run.pid, stop)
        stopped_at = time.monotonic()
        output, _ = run.communicate(timeout=30)
        wait_for(lambda: not any(map(alive, started)), 30 - (time.monotonic() - stopped_at), "every process it started to stop")
    finally:
        for pid in descendants(run.pid) | {run.pid}:
            os.kill(pid, signal.SIGKILL) if alive(pid) else None
    assert run.returncode != 0
    assert any(checkpoints.glob("*/checkpoint-*/trainer_state.json")), "the checkpoints stay, for --resume"
    assert not list((artifacts / "model").glob("[!.]*")), "no model artifact from a stopped run"
    if stop == signal.SIGTERM:
        assert run.returncode == 128 + signal.SIGTERM and "Traceback" not in output, output[-3000:]
        assert output.splitlines()[-1].startswith("stopped by a termination signal: the steps it finished are kept")

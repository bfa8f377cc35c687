"""A command-line run stopped from outside while it trains in two torchrun processes: by SIGTERM, as a worker
stops a run cancelled from the UI or with ``prefect flow-run cancel`` (against a team's server, which stays),
or by SIGKILL (a run that started its temporary server). Within 30 s nothing it started is left (torchrun,
its workers, the temporary server), and its checkpoints stay for --resume."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO
from prefect_server import alive, descendants, wait_for

pytestmark = pytest.mark.slow


def environment(stop: signal.Signals, prefect_home: Path) -> dict[str, str]:
    from prefect.settings import PREFECT_API_URL

    if stop == signal.SIGTERM:
        return {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
    return {
        **{name: value for name, value in os.environ.items() if not name.startswith("PREFECT_")},
        "PREFECT_HOME": str(prefect_home),
    }


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_a_stopped_run_leaves_no_process_and_keeps_its_checkpoints(
    stop, prefect_server, tiny_model, conll_sample, tmp_path
):
    artifacts, env = tmp_path / "artifacts", environment(stop, tmp_path / "prefect")
    command = [
        sys.executable,
        "-m",
        "flows.finetune",
        "--model",
        str(tiny_model),
        "--dataset",
        str(conll_sample),
        "--artifacts-dir",
        str(artifacts),
        "--num-processes",
        "2",
        "--epochs",
        "400",
        "--batch-size",
        "8",
    ]
    run = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        checkpoints = artifacts / "checkpoints"
        trained = lambda: any(checkpoints.glob("*/checkpoint-*/trainer_state.json"))
        wait_for(lambda: trained() or run.poll() is not None, 120, "a complete epoch checkpoint")
        assert run.poll() is None, run.communicate()[0][-3000:]
        started = descendants(run.pid)
        assert len(started) >= (3 if stop == signal.SIGTERM else 4), "torchrun, its two workers (, the server)"
        os.kill(run.pid, stop)
        stopped_at = time.monotonic()
        output, _ = run.communicate(timeout=30)
        wait_for(
            lambda: not any(map(alive, started)),
            30 - (time.monotonic() - stopped_at),
            "every process it started to stop",
        )
    finally:
        for pid in descendants(run.pid) | {run.pid}:
            os.kill(pid, signal.SIGKILL) if alive(pid) else None
    assert run.returncode != 0
    assert any(checkpoints.glob("*/checkpoint-*/trainer_state.json")), "the checkpoints stay, for --resume"
    assert not list((artifacts / "model").glob("[!.]*")), "no model artifact from a stopped run"
    if stop == signal.SIGTERM:
        assert run.returncode == 128 + signal.SIGTERM and "Traceback" not in output, output[-3000:]
        assert output.splitlines()[-1].startswith("stopped by a termination signal: the steps it finished are kept")

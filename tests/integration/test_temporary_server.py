"""The command line's own start of Prefect's temporary server: it answers, and it never outlives the run."""

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import REPO

pytestmark = pytest.mark.slow

# Starts the server as the command line does, waits for it, prints its address, then ends as asked.
RUN = """
import os, signal, sys
from flows.temporary_server import TemporaryServer
server = TemporaryServer.start_unless_configured()
server.wait_until_ready()
print(server.url, os.environ["PREFECT_API_URL"], server.process.pid, flush=True)
if sys.argv[1] == "killed":
    os.kill(os.getpid(), signal.SIGKILL)
"""


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def start_and_end(how: str, prefect_home: Path) -> tuple[subprocess.CompletedProcess, str, int]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(prefect_home), DO_NOT_TRACK="1", PREFECT_SERVER_ANALYTICS_ENABLED="false")
    finished = subprocess.run(
        [sys.executable, "-c", RUN, how], cwd=REPO, env=env, capture_output=True, text=True, timeout=180
    )
    url, exported, pid = finished.stdout.split()
    assert url == exported and url.startswith("http://127.0.0.1:")
    return finished, url, int(pid)


def gone_within(url: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not answers(url):
            return True
        time.sleep(0.2)
    return False


def test_the_server_answers_and_stops_when_the_run_ends(tmp_path):
    """Also where the Prefect home does not exist yet (the server opens its database there first)."""
    finished, url, _ = start_and_end("ends", tmp_path / "not-yet" / "home")
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert f"Starting a temporary Prefect server on {url}" in finished.stderr
    assert not answers(url)


def test_the_server_stops_when_the_run_is_killed(tmp_path):
    finished, url, pid = start_and_end("killed", tmp_path / "home")
    try:
        assert finished.returncode == -9
        assert gone_within(url, 30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def test_no_server_is_started_where_prefect_api_url_names_one():
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.temporary_server import TemporaryServer

    with temporary_settings({PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        assert TemporaryServer.start_unless_configured() is None

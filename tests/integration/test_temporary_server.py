"""The command line's own start of Prefect's temporary server: it answers, and it never outlives the run
(`test_stopped_runs.py` kills a run that started one)."""

import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import REPO

pytestmark = pytest.mark.slow

# Starts the server as the command line does, waits for it, prints its address, then ends.
RUN = """
import os
from flows.temporary_server import TemporaryServer
server = TemporaryServer.start_unless_configured()
server.wait_until_ready()
print(server.url, os.environ["PREFECT_API_URL"], flush=True)
"""


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def start_and_end(prefect_home: Path) -> tuple[subprocess.CompletedProcess, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(prefect_home), DO_NOT_TRACK="1", PREFECT_SERVER_ANALYTICS_ENABLED="false")
    finished = subprocess.run(
        [sys.executable, "-c", RUN], cwd=REPO, env=env, capture_output=True, text=True, timeout=180
    )
    url, exported = finished.stdout.split()
    assert url == exported and url.startswith("http://127.0.0.1:")
    return finished, url


def test_the_server_answers_and_stops_when_the_run_ends(tmp_path):
    """Also where the Prefect home does not exist yet (the server opens its database there first)."""
    finished, url = start_and_end(tmp_path / "not-yet" / "home")
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert f"Starting a temporary Prefect server on {url}" in finished.stderr
    assert not answers(url)


def test_no_server_is_started_where_prefect_api_url_names_one():
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.temporary_server import TemporaryServer

    with temporary_settings({PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        assert TemporaryServer.start_unless_configured() is None

"""Prefect's temporary server, started before the libraries load so that both happen at once.

With PREFECT_API_URL unset, Prefect starts a temporary server when a flow first calls its API: it
loads the server's code in this process (about 5 s on 2 cores), only then starts the server in
another process and waits for it to load the same code again. The command line instead starts the
same server (Prefect's own app, launched as Prefect launches it) first thing, points
PREFECT_API_URL at it, and stops it when the run ends.
"""

import atexit
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

from tasks.errors import PipelineError
from tasks.lifetime import dying_with_parent

# Prefect's default start-up limit (20 s) is about what a first start with an empty Prefect home
# takes on 2 cores.
START_SECONDS = 120
# What Prefect sets for its temporary server: no UI, and the server's ephemeral mode.
SERVER_ENVIRONMENT = {"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}


def without_telemetry() -> None:
    """Prefect's usage reports off, for this process and the server it starts, unless the user set
    them: runs often have no internet, and a fine-tuning run should not report on its own."""
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_server(
    process: subprocess.Popen,
    url: str,
    seconds: float = START_SECONDS,
    probe: str = "/health",
    name: str = "the Prefect server",
) -> None:
    """Return once the server ``process`` answers ``url`` + ``probe`` (a Prefect server's API root and its
    health check, by default); fail if it exits first or does not answer within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status = process.poll()
        if status is not None:
            raise PipelineError(f"{name} at {url} exited with status {status} while starting (its output says why)")
        try:
            with urllib.request.urlopen(f"{url}{probe}", timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass  # not listening yet
        time.sleep(0.1)
    raise PipelineError(f"{name} at {url} did not answer within {seconds:g} s")


class TemporaryServer:
    """One Prefect server process on 127.0.0.1 for the length of a run."""

    def __init__(self, environment: dict[str, str], app_dir: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/api"
        server = [
            "-m",
            "uvicorn",
            "--app-dir",
            app_dir,
            "--factory",
            "prefect.server.api.server:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--log-level",
            "error",
            "--lifespan",
            "on",
        ]
        self.process = subprocess.Popen(
            dying_with_parent(server), env=environment
        )  # stopped when the run's process dies
        os.environ["PREFECT_API_URL"] = self.url
        # Registered before Prefect's own exit handlers, so it runs after them: they send the last
        # logs and events to this server.
        atexit.register(self.stop)

    @classmethod
    def start_unless_configured(cls) -> "TemporaryServer | None":
        """Start the server where Prefect would start its own: no PREFECT_API_URL, ephemeral mode allowed."""
        import prefect
        from prefect.settings import (
            PREFECT_API_URL,
            PREFECT_HOME,
            PREFECT_SERVER_EPHEMERAL_ENABLED,
            get_current_settings,
        )

        if PREFECT_API_URL.value() or not PREFECT_SERVER_EPHEMERAL_ENABLED.value():
            return None
        # The server keeps its database there, and starts before anything else of Prefect's makes it.
        PREFECT_HOME.value().mkdir(parents=True, exist_ok=True)
        settings = get_current_settings().to_environment_variables(exclude_unset=True)
        server = cls({**os.environ, **SERVER_ENVIRONMENT, **settings}, str(prefect.__module_path__.parent))
        print(f"Starting a temporary Prefect server on {server.url}", file=sys.stderr, flush=True)
        return server

    def wait_until_ready(self, seconds: float = START_SECONDS) -> None:
        try:
            wait_for_server(self.process, self.url, seconds)
        except PipelineError:
            self.stop()
            raise

    def stop(self) -> None:
        """Shut the server down and wait for it, so that the next run finds its database closed."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

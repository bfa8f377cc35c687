"""A real Prefect server on 127.0.0.1 (SQLite) and worker processes, started and stopped by tests."""

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from uuid import UUID, uuid4

import psutil

from flows.temporary_server import free_port, wait_for_server
from tasks.errors import PipelineError

REPO = Path(__file__).resolve().parent.parent  # tests/ is at the root
PREFECT = (sys.executable, "-m", "prefect")


class Processes:
    """Background commands in their own process groups, so stopping one stops what it started
    (a worker's flow-run processes too). Each one's output goes to a log file."""

    def __init__(self, env: dict[str, str], logs: Path):
        self.env, self.logs = env, logs
        self.running: list[subprocess.Popen] = []

    def start(self, name: str, *command: str, cwd: Path = REPO, env: dict[str, str] | None = None) -> subprocess.Popen:
        """Start ``command`` in ``cwd`` with this environment and ``env`` added."""
        log = open(self.logs / f"{name}.log", "w")
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env={**self.env, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.running.append(process)
        return process

    def stop(self, process: subprocess.Popen) -> None:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.running.remove(process)

    def kill(self, process: subprocess.Popen) -> None:
        """SIGKILL a process and every process under it, as a lost machine would end them."""
        parent = psutil.Process(process.pid)
        for each in [*parent.children(recursive=True), parent]:
            each.kill()
        process.wait()
        self.running.remove(process)

    def stop_all(self) -> None:
        for process in reversed(list(self.running)):
            self.stop(process)


class PrefectServer:
    """``with PrefectServer(tmp) as server:`` serves the Prefect API at ``server.api_url`` with its own
    home and database under ``tmp``; ``server.env`` is the environment for CLI commands and workers. With
    ``auth`` (``user:password``) the server refuses clients without it, and ``server.env`` holds it."""

    def __init__(self, root: Path, auth: str | None = None):
        home = root / "prefect-home"
        home.mkdir(parents=True, exist_ok=True)
        self.api_url = f"http://127.0.0.1:{free_port()}/api"
        self.env = {
            **os.environ,
            "PREFECT_HOME": str(home),
            "PREFECT_API_URL": self.api_url,
            "DO_NOT_TRACK": "1",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            # Workers ask for work every second instead of every 10, so the test waits less.
            "PREFECT_WORKER_QUERY_SECONDS": "1",
            # A run queued behind a deployment's limit asks again after 2 s, not 30.
            "PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS": "2",
            # Runs send heartbeats every 30 s (Prefect's least), so deploy.sh's automation marks a lost run
            # Crashed after 90 s without one.
            "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30",
            **({"PREFECT_API_AUTH_STRING": auth} if auth else {}),
        }
        self.auth = auth
        self.processes = Processes(self.env, root)
        self.workers: dict[str, subprocess.Popen] = {}  # by work pool, for tests that start workers

    def __enter__(self) -> "PrefectServer":
        try:
            self.start_server()
        except PipelineError:
            self.processes.stop_all()
            raise
        return self

    def start_server(self, log_name: str = "server") -> None:
        """Start the server on its port and database, and wait until it answers."""
        port = self.api_url.split(":")[-1].split("/")[0]
        protected = {"PREFECT_SERVER_API_AUTH_STRING": self.auth} if self.auth else {}
        command = (*PREFECT, "server", "start", "--host", "127.0.0.1", "--port", port)
        self.server = self.processes.start(log_name, *command, env=protected)
        wait_for_server(self.server, self.api_url, 90)

    def __exit__(self, *exc) -> None:
        self.processes.stop_all()

    def run(
        self, *command: str, timeout: float = 120, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess:
        """A CLI command against this server, from the repository root, with ``env`` added to its environment."""
        env = {**self.env, **(env or {})}
        return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)

    def start_worker(
        self, pool: str, log_name: str, cwd: Path = REPO, env: dict[str, str] | None = None
    ) -> subprocess.Popen:
        """A process worker for ``pool``, logging to ``<log_name>.log``, started in ``cwd`` with ``env`` added to
        the server's environment; kept in ``workers``."""
        command = (*PREFECT, "worker", "start", "--pool", pool, "--name", f"{pool}-worker")
        worker = self.processes.start(log_name, *command, cwd=cwd, env=env)
        self.workers[pool] = worker
        return worker

    @contextmanager
    def client(self):
        """A synchronous Prefect client of this server."""
        from prefect import get_client
        from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

        settings = {PREFECT_API_URL: self.api_url, **({PREFECT_API_AUTH_STRING: self.auth} if self.auth else {})}
        with temporary_settings(settings), get_client(sync_client=True) as client:
            yield client

    def start_run(self, name: str, config: dict) -> UUID:
        """Start a run of deployment ``name`` with ``config``, as a schedule or a person would; return its id."""
        with self.client() as client:
            deployment = client.read_deployment_by_name(name)
            # a key, so that a create resent to a busy server makes one run
            run = client.create_flow_run_from_deployment(
                deployment.id, parameters={"config": config}, idempotency_key=str(uuid4())
            )
        return run.id

    def run_deployment(self, name: str, config: dict, seconds: float):
        """Start a run of deployment ``name`` with ``config`` and return it once it has ended, completed."""
        run_id = self.start_run(name, config)
        with self.client() as client:
            wait_for(lambda: client.read_flow_run(run_id).state.is_final(), seconds, f"the end of the {name} run")
            ended = client.read_flow_run(run_id)
        assert ended.state.is_completed(), f"{name} run ended {ended.state.type}: {ended.state.message}"
        return ended


def wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen within {seconds} s"
        time.sleep(0.2)


def descendants(pid: int) -> set[int]:
    """Every living process under ``pid``."""
    try:
        return {child.pid for child in psutil.Process(pid).children(recursive=True)}
    except psutil.NoSuchProcess:
        return set()


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE  # a zombie has ended; its parent's wait is missing
    except psutil.NoSuchProcess:
        return False

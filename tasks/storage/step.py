"""The step decorator: a function that writes an artifact becomes a Prefect task that builds
``<artifacts>/<folder>/<key>`` once per key, the folder being the catalog's for the step's name.

The key (`tasks.storage.keys`) hashes the step's inputs (upstream artifacts enter as their own content-named
paths), the code it runs and the libraries that shape it, so a change anywhere upstream gives a new
directory. A complete directory is the whole cache; runs that need the same one at once take turns on
its lock (`tasks.storage.locks`), and in a bucket the first to commit it wins (`tasks.storage.buckets`).
"""

import functools
import inspect
import os
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

from prefect import Task, task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel

from tasks.console import run_logger
from tasks.storage import buckets
from tasks.storage.artifacts import is_complete, local_dir, location
from tasks.storage.buckets import ArtifactsLocation, is_remote
from tasks.storage.catalog import FOLDERS
from tasks.storage.keys import artifact_key
from tasks.storage.locks import artifact_lock


class ArtifactStore(BaseModel):
    """Where every step writes, and whether complete artifacts may be reused: each step's last input."""

    root: ArtifactsLocation
    refresh: bool = False

    def local_root(self) -> Path:
        """This machine's directory for what is not an artifact (checkpoints, downloads, the default
        MLflow store): the artifacts directory on disk, the staging directory for a bucket."""
        return buckets.staging_root() if is_remote(self.root) else Path(self.root)


class StepReport(BaseModel):
    """What a step did: the artifact it returns, whether it was reused, and how long the step took."""

    name: str
    seconds: float
    cached: bool
    path: str

    def describe(self) -> str:
        """The step's one log line: which step, whether it ran or reused its artifact, how long, where."""
        return f"Step {self.name} {'reused' if self.cached else 'ran'} in {self.seconds:.1f} s: {self.path}"


def step(unkeyed: tuple[str, ...] = (), **task_options: Any) -> Callable[[Callable[..., str]], Task[..., StepReport]]:
    """Make ``fn(inputs..., out_dir)`` a pipeline step: a Prefect task of the function's name, called with the
    same inputs and ``store`` in place of ``out_dir``, which builds ``<store.root>/<folder>/<key>`` (the
    catalog's folder for that name) unless a complete one is there, and returns its `StepReport`.

    The key hashes the inputs (but ``unkeyed`` ones, which change how an artifact is made, not what it
    is), the source of every module of ours the task runs, and the versions of the libraries that shape
    what it writes. So the complete directory is the whole cache: a run with an empty Prefect home, or on
    another worker that sees the same artifacts, reuses it, and a code or library change never does.
    The decorated function's ``-> str`` is what it gives the decorator (``out_dir``); a step's callers
    see the task's type, ``Task[..., StepReport]``.
    """

    def decorate(fn: Callable[..., str]) -> Task[..., StepReport]:
        name, folder = fn.__name__, FOLDERS[fn.__name__]
        signature = inspect.signature(fn)
        inputs_only = [parameter for name, parameter in signature.parameters.items() if name != "out_dir"]
        store = inspect.Parameter("store", inspect.Parameter.KEYWORD_ONLY, annotation=ArtifactStore)
        step_signature = signature.replace(parameters=[*inputs_only, store], return_annotation=StepReport)

        def bind(*args: Any, **kwargs: Any) -> tuple[Path | str, dict[str, Any], ArtifactStore]:
            inputs = dict(step_signature.bind(*args, **kwargs).arguments)
            store = inputs.pop("store")
            keyed = {input: value for input, value in inputs.items() if input not in unkeyed}
            return location(store.root, folder, artifact_key(folder, fn.__module__, keyed)), inputs, store

        @functools.wraps(fn)
        def run_step(*args: Any, **kwargs: Any) -> StepReport:
            out_dir, inputs, store = bind(*args, **kwargs)
            if is_remote(out_dir):  # built in staging from fetched inputs, then committed
                report = build_and_commit(
                    name,
                    out_dir,
                    store.refresh,
                    lambda staged: fn(**fetched_inputs(inputs, store.root), out_dir=str(staged)),
                )
            else:
                report = build_once(name, out_dir, store.refresh, lambda: fn(**inputs, out_dir=str(out_dir)))
            run_logger().info(report.describe())
            return report

        run_step.__signature__ = step_signature
        # What the step's callers pass and get (functools.wraps copied the function's own, `out_dir` and `str`).
        run_step.__annotations__ = {
            input: parameter.annotation for input, parameter in step_signature.parameters.items()
        }
        run_step.__annotations__["return"] = StepReport
        run_step.artifact_dir = lambda *args, **kwargs: bind(*args, **kwargs)[0]  # where a call would write
        return task(cache_policy=NO_CACHE, **task_options)(run_step)

    return decorate


def fetched_inputs(inputs: dict[str, Any], root: str) -> dict[str, Any]:
    """``inputs`` with each artifact in the bucket ``root`` replaced by its local copy, for a step's code,
    which reads directories: an input that is an artifact's location, or a typed input's field that is."""
    prefix = root.rstrip("/") + "/"

    def local(value: Any) -> Any:
        if isinstance(value, str) and value.startswith(prefix):
            return str(local_dir(value))
        if isinstance(value, BaseModel):
            return value.model_copy(update={name: local(field) for name, field in value if isinstance(field, str)})
        return value

    return {name: local(value) for name, value in inputs.items()}


def build_and_commit(name: str, out_dir: str, refresh: bool, build: Callable[[Path], Any]) -> StepReport:
    """`build_once` for a bucket: unless ``out_dir`` is committed (one read of its commit record), build it in
    its staging directory and commit it. The staging lock makes runs on this machine build it once;
    runs on other machines may build it too, and the first to commit wins."""
    started = time.perf_counter()
    staged = buckets.staged_dir(out_dir)
    with artifact_lock(staged):
        record = None if refresh else buckets.committed(out_dir)
        if not record:
            build(staged)
            _commit(staged, out_dir, refresh)
        else:
            buckets.note_use(out_dir)  # as `build_once` touches a reused directory
    return StepReport(name=name, seconds=round(time.perf_counter() - started, 1), cached=bool(record), path=out_dir)


def _commit(staged: Path, out_dir: str, replace: bool) -> None:
    started, size = time.perf_counter(), sum(buckets.local_files(staged).values())
    writer = buckets.commit(staged, out_dir, replace)
    buckets.note_writer(staged, writer)
    seconds = time.perf_counter() - started
    if writer:
        run_logger().info(f"Uploaded {out_dir} ({size / 1e6:.1f} MB) in {seconds:.1f} s")
    else:
        run_logger().info(f"Another run committed {out_dir} first: its artifact stands, this one was discarded")


def build_once(name: str, out_dir: Path, refresh: bool, build: Callable[[], Any]) -> StepReport:
    """Build ``out_dir`` unless it is complete (and ``refresh`` is off). Under the artifact's lock, so
    that a run building the same key at the same time waits, then finds it complete."""
    started = time.perf_counter()
    with artifact_lock(out_dir):
        cached = not refresh and is_complete(out_dir)
        if not cached:
            build()
        else:
            with suppress(OSError):  # its last use: retention never removes what was used within --min-age-hours
                os.utime(out_dir)
    return StepReport(name=name, seconds=round(time.perf_counter() - started, 1), cached=cached, path=str(out_dir))

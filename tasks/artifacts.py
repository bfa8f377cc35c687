"""Where artifacts live, how they are named, and how they are written atomically.

Every step writes one directory ``<artifacts>/<folder>/<key>``. The key hashes the
step's inputs (upstream artifacts enter as their own content-named paths), the code it
runs and the libraries that shape it, so a change anywhere upstream gives a new directory.
A directory is built under a temporary name and renamed into place with a manifest
of its files; only a directory whose manifest matches its files counts as complete.
Runs that may build the same directory at once serialise on its lock file, and the
leftovers of runs that died are removed once nobody holds their lock.

The artifacts directory may also be a bucket (``s3://…``, see `tasks.storage`): a step then builds
in this machine's staging directory exactly as above, commits the result to the bucket, and a
location is a URL that `local_dir` and `read_artifact` turn into files.
"""

import errno
import fcntl
import functools
import hashlib
import inspect
import json
import logging
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from pathlib import Path
from typing import Any

from prefect import Task, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.exceptions import MissingContextError
from pydantic import BaseModel

from tasks import storage
from tasks.catalog import CHECKPOINTS, COMMIT, MANIFEST
from tasks.errors import PipelineError
from tasks.files import jsonable
from tasks.fingerprints import code_fingerprint, library_versions
from tasks.storage import ArtifactsLocation, is_remote

# What `building` leaves beside ``<key>`` while it works: its partial directory, and the
# finished artifact it is replacing. Either one outliving its builder is a leftover.
LEFTOVER = re.compile(r"\.(?P<key>.+)\.(?:partial|replaced)-[0-9a-f]{8}")


def content_key(*parts: Any) -> str:
    """A short, stable hash of JSON-serialisable parts (pydantic models and paths allowed)."""
    payload = json.dumps(parts, sort_keys=True, default=jsonable)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


class ArtifactStore(BaseModel):
    """Where every step writes, and whether complete artifacts may be reused: each step's last input."""

    root: ArtifactsLocation
    refresh: bool = False

    def local_root(self) -> Path:
        """This machine's directory for what is not an artifact (checkpoints, downloads, the default
        MLflow store): the artifacts directory on disk, the staging directory for a bucket."""
        return storage.staging_root() if is_remote(self.root) else Path(self.root)


class StepReport(BaseModel):
    """What a step did: the artifact it returns, whether it was reused, and how long the step took."""

    name: str
    seconds: float
    cached: bool
    path: str

    def describe(self) -> str:
        """The step's one log line: which step, whether it ran or reused its artifact, how long, where."""
        return f"Step {self.name} {'reused' if self.cached else 'ran'} in {self.seconds:.1f} s: {self.path}"


def step(
    folder: str, unkeyed: tuple[str, ...] = (), **task_options: Any
) -> Callable[[Callable[..., str]], Task[..., StepReport]]:
    """Make ``fn(inputs..., out_dir)`` a pipeline step: a Prefect task called with the same inputs and
    ``store`` in place of ``out_dir``, which builds ``<store.root>/<folder>/<key>`` unless a complete one is
    there, and returns its `StepReport`.

    The key hashes the inputs (but ``unkeyed`` ones, which change how an artifact is made, not what it
    is), the source of every module of ours the task runs, and the versions of the libraries that shape
    what it writes. So the complete directory is the whole cache: a run with an empty Prefect home, or on
    another worker that sees the same artifacts, reuses it, and a code or library change never does.
    The decorated function's ``-> str`` is what it gives the decorator (``out_dir``); a step's callers
    see the task's type, ``Task[..., StepReport]``.
    """

    def decorate(fn: Callable[..., str]) -> Task[..., StepReport]:
        signature = inspect.signature(fn)
        inputs_only = [parameter for name, parameter in signature.parameters.items() if name != "out_dir"]
        store = inspect.Parameter("store", inspect.Parameter.KEYWORD_ONLY, annotation=ArtifactStore)
        step_signature = signature.replace(parameters=[*inputs_only, store], return_annotation=StepReport)

        def bind(*args: Any, **kwargs: Any) -> tuple[Path | str, dict[str, Any], ArtifactStore]:
            inputs = dict(step_signature.bind(*args, **kwargs).arguments)
            store = inputs.pop("store")
            keyed = {name: value for name, value in inputs.items() if name not in unkeyed}
            return location(store.root, folder, artifact_key(folder, fn.__module__, keyed)), inputs, store

        @functools.wraps(fn)
        def run_step(*args: Any, **kwargs: Any) -> StepReport:
            out_dir, inputs, store = bind(*args, **kwargs)
            if is_remote(out_dir):  # built in staging from fetched inputs, then committed
                report = build_and_commit(
                    folder,
                    out_dir,
                    store.refresh,
                    lambda staged: fn(**fetched_inputs(inputs, store.root), out_dir=str(staged)),
                )
            else:
                report = build_once(folder, out_dir, store.refresh, lambda: fn(**inputs, out_dir=str(out_dir)))
            run_logger().info(report.describe())
            return report

        run_step.__signature__ = step_signature
        # What the step's callers pass and get (functools.wraps copied the function's own, `out_dir` and `str`).
        run_step.__annotations__ = {name: parameter.annotation for name, parameter in step_signature.parameters.items()}
        run_step.__annotations__["return"] = StepReport
        run_step.artifact_dir = lambda *args, **kwargs: bind(*args, **kwargs)[0]  # where a call would write
        return task(cache_policy=NO_CACHE, **task_options)(run_step)

    return decorate


def artifact_key(folder: str, module: str, inputs: dict[str, Any]) -> str:
    # A step's ``task`` input names the profile whose parts it runs (`tasks.fingerprints.profile_parts`).
    return content_key(folder, inputs, code_fingerprint(module, inputs.get("task")), library_versions())


def location(root: Path | str, *names: str) -> Path | str:
    """Where ``names`` are under the artifacts directory ``root``: a path on disk, a URL in a bucket."""
    return storage.join(root, *names) if is_remote(root) else Path(root, *names)


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


def build_and_commit(folder: str, out_dir: str, refresh: bool, build: Callable[[Path], Any]) -> StepReport:
    """`build_once` for a bucket: unless ``out_dir`` is committed (one read of its commit record), build it in
    its staging directory and commit it. The staging lock makes runs on this machine build it once;
    runs on other machines may build it too, and the first to commit wins."""
    started = time.perf_counter()
    staged = storage.staged_dir(out_dir)
    with artifact_lock(staged):
        record = None if refresh else storage.committed(out_dir)
        if not record:
            build(staged)
            _commit(staged, out_dir, refresh)
        else:
            storage.note_use(out_dir)  # as `build_once` touches a reused directory
    return StepReport(name=folder, seconds=round(time.perf_counter() - started, 1), cached=bool(record), path=out_dir)


def _commit(staged: Path, out_dir: str, replace: bool) -> None:
    started, size = time.perf_counter(), sum(storage.local_files(staged).values())
    writer = storage.commit(staged, out_dir, replace)
    storage.note_writer(staged, writer)
    seconds = time.perf_counter() - started
    if writer:
        run_logger().info(f"Uploaded {out_dir} ({size / 1e6:.1f} MB) in {seconds:.1f} s")
    else:
        run_logger().info(f"Another run committed {out_dir} first: its artifact stands, this one was discarded")


def local_dir(path: Path | str) -> Path:
    """An artifact as a directory on this machine: itself on disk; from a bucket, its staged copy,
    downloaded first unless it is the committed one already."""
    if not is_remote(path):
        return Path(path)
    staged = storage.staged_dir(path)
    with artifact_lock(staged):
        record = _committed(path)
        if _is_current(staged, record):
            return staged
        started = time.perf_counter()
        with building(staged) as partial:
            size = storage.download(path, record, partial)
        storage.note_writer(staged, record["writer"])
    run_logger().info(f"Downloaded {path} ({size / 1e6:.1f} MB) in {time.perf_counter() - started:.1f} s")
    return staged


def read_artifact(path: Path | str, name: str) -> bytes:
    """One file of an artifact; from a bucket, the staged copy's when it is current, else that file alone."""
    if not is_remote(path):
        return (Path(path) / name).read_bytes()
    record, staged = _committed(path), storage.staged_dir(path)
    if _is_current(staged, record):
        return (staged / name).read_bytes()
    return storage.read_file(path, record, name)


def read_artifact_json(path: Path | str, name: str) -> Any:
    return json.loads(read_artifact(path, name))


def is_finished(path: Path | str) -> bool:
    """True for a complete artifact on disk or a committed one in a bucket."""
    return storage.committed(path) is not None if is_remote(path) else is_complete(Path(path))


def _is_current(staged: Path, record: dict) -> bool:
    """True when ``staged`` is a complete copy of the artifact ``record`` commits."""
    return storage.is_copy_of(staged, record) and is_complete(staged)


def _committed(path: str) -> dict:
    record = storage.committed(path)
    if record is None:
        raise PipelineError(f"{path} is not a committed artifact: it has no {COMMIT}")
    return record


def build_once(folder: str, out_dir: Path, refresh: bool, build: Callable[[], Any]) -> StepReport:
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
    return StepReport(name=folder, seconds=round(time.perf_counter() - started, 1), cached=cached, path=str(out_dir))


def checkpoint_dir(out_dir: Path) -> Path:
    """Where a training step keeps epoch checkpoints: beside the artifacts, not inside the partial
    directory, so they outlive a failed run."""
    return out_dir.parent.parent / CHECKPOINTS / out_dir.name


def remove_checkpoints(out_dir: Path) -> None:
    """Drop a finished step's checkpoints, and the checkpoints folder once nothing else is in it."""
    checkpoints = checkpoint_dir(out_dir)
    shutil.rmtree(checkpoints, ignore_errors=True)
    with suppress(OSError):
        checkpoints.parent.rmdir()


def is_complete(path: Path) -> bool:
    """True when ``path`` was finished by `building` and none of its files went missing or changed size."""
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    return all((path / name).is_file() and (path / name).stat().st_size == size for name, size in manifest.items())


def _write_manifest(path: Path) -> None:
    sizes = {str(file.relative_to(path)): file.stat().st_size for file in sorted(path.rglob("*")) if file.is_file()}
    (path / MANIFEST).write_text(json.dumps(sizes, indent=1))


def _cannot_write(folder: Path, error: OSError) -> PipelineError:
    return PipelineError(f"cannot write artifacts under {folder}: {error.strerror}")


def run_logger() -> logging.Logger | logging.LoggerAdapter:
    """The run's logger inside a Prefect run, so the UI shows the message; this module's outside one."""
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger(__name__)


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
        raise _cannot_write(lock_path.parent, error) from error
    with lock_file:  # closing the file releases the lock
        if not _try_lock(lock_file):
            run_logger().info(f"Waiting for {holder}.")
            fcntl.flock(lock_file, fcntl.LOCK_EX)
        yield


def _try_lock(lock_file: Any) -> bool:
    try:
        fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _lock_path(out_dir: Path) -> Path:
    return out_dir.parent / f".{out_dir.name}.lock"


def artifact_lock(out_dir: Path) -> AbstractContextManager[None]:
    """Hold ``out_dir``'s lock while checking whether it is complete and building it if not, so
    that two runs needing the same artifact build it once: the second waits, then finds it complete.

    `building` does not take it: a second flock in the same process would wait for itself.
    """
    out_dir = Path(out_dir)
    return file_lock(_lock_path(out_dir), f"another run building {out_dir}")


def _leftover(out_dir: Path, kind: str) -> Path:
    return out_dir.parent / f".{out_dir.name}.{kind}-{uuid.uuid4().hex[:8]}"


def _leftovers_of(out_dir: Path) -> list[Path]:
    return [
        path
        for path in sorted(out_dir.parent.glob(f".{out_dir.name}.*"))
        if (match := LEFTOVER.fullmatch(path.name)) and match["key"] == out_dir.name
    ]


@contextmanager
def building(out_dir: Path) -> Iterator[Path]:
    """Yield a temporary sibling of ``out_dir`` to write into; on success it replaces
    ``out_dir`` whole, on failure it is removed and ``out_dir`` is left as it was.

    The caller holds `artifact_lock` (out_dir), so any other partial of this key is a dead run's.
    """
    out_dir = Path(out_dir)
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        for leftover in _leftovers_of(out_dir):
            shutil.rmtree(leftover, ignore_errors=True)
        partial = _leftover(out_dir, "partial")
        partial.mkdir()
    except OSError as error:
        raise _cannot_write(out_dir.parent, error) from error
    try:
        yield partial
        _write_manifest(partial)
        _move_into_place(partial, out_dir)
    except Exception as error:
        full = disk_full(error)
        if full is None:
            raise
        raise PipelineError(
            f"no space left on the device of {out_dir.parent} while writing the {out_dir.parent.name} step's artifact"
            f"{f' ({full})' if full else ''}: free space there or choose another --artifacts-dir; the artifacts "
            "already written are intact"
        ) from error
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def disk_full(error: BaseException) -> str | None:
    """When ``error`` (or one it came from) says the disk is full: the file it was writing, or ""; else None.
    Libraries wrap the OS's error in their own (safetensors' and torch's writers keep only its text)."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno == errno.ENOSPC:
            return Path(seen.filename).name if seen.filename else ""
        if "No space left on device" in str(seen):
            return ""
        seen = seen.__cause__ or seen.__context__
    return None


def _move_into_place(partial: Path, out_dir: Path) -> None:
    """Rename ``partial`` to ``out_dir``. A finished ``out_dir`` is renamed aside, not removed, until
    its replacement is in place, and renamed back if that fails."""
    aside = _leftover(out_dir, "replaced")
    replacing = out_dir.exists()
    if replacing:
        os.rename(out_dir, aside)
    try:
        os.replace(partial, out_dir)
    except OSError:
        if replacing:
            os.rename(aside, out_dir)
        raise
    shutil.rmtree(aside, ignore_errors=True)


def remove_stale_partials(artifacts_dir: Path) -> list[Path]:
    """Remove what `building` left in each step folder when its run died, and return it.

    A leftover whose key lock nobody holds has no live builder; one whose lock is held is
    still being written, or replaced, and is left alone.
    """
    removed = []
    for out_dir in _artifacts_with_leftovers(Path(artifacts_dir)):
        with open(_lock_path(out_dir), "a") as lock_file:
            if _try_lock(lock_file):
                leftovers = _leftovers_of(out_dir)  # listed again under the lock: a run may have ended meanwhile
                for leftover in leftovers:
                    shutil.rmtree(leftover, ignore_errors=True)
                removed += leftovers
    return removed


def _artifacts_with_leftovers(artifacts_dir: Path) -> list[Path]:
    matches = ((path, LEFTOVER.fullmatch(path.name)) for path in artifacts_dir.glob("*/.*"))
    return sorted({path.parent / match["key"] for path, match in matches if match})


def ensure_writable(artifacts_dir: Path | str) -> None:
    """Fail early, with the directory named, when artifacts cannot be written."""
    if is_remote(artifacts_dir):
        storage.ensure_writable(artifacts_dir)
        return
    probe = artifacts_dir / f".write-test-{uuid.uuid4().hex[:8]}"
    try:
        artifacts_dir.mkdir(parents=True, exist_ok=True)
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise PipelineError(f"artifacts directory {artifacts_dir} is not writable: {error.strerror}") from error

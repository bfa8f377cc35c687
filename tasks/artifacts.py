"""Where artifacts live, how they are named, and how they are written atomically.

Every step writes one directory ``<artifacts>/<folder>/<key>``. The key hashes the
step's version, its task's source and its inputs (upstream artifacts enter as their
own content-named paths), so a change anywhere upstream gives a new directory.
A directory is built under a temporary name and renamed into place with a manifest
of its files; only a directory whose manifest matches its files counts as complete.
"""

import hashlib
import inspect
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect.cache_policies import CachePolicy
from prefect.client.schemas.objects import State
from prefect.context import TaskRunContext
from pydantic import BaseModel

from tasks.errors import PipelineError

MANIFEST = ".manifest.json"


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot hash {type(value).__name__} into an artifact key")


def content_key(*parts: Any) -> str:
    """A short, stable hash of JSON-serialisable parts (pydantic models and paths allowed)."""
    payload = json.dumps(parts, sort_keys=True, default=_jsonable)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Step:
    """A pipeline step: its Prefect task, the folder its artifacts go in, and a version
    to bump when a helper the task calls changes what it writes (source hashing sees
    only the task function itself). ``unkeyed`` names inputs that change how the
    artifact is made but not what it is, such as resuming from a checkpoint."""

    task: Any
    folder: str
    version: int
    unkeyed: tuple[str, ...] = ()

    def out_dir(self, artifacts_dir: Path, inputs: dict[str, Any]) -> Path:
        source = inspect.getsource(self.task.fn)
        keyed = {name: value for name, value in inputs.items() if name not in self.unkeyed}
        return artifacts_dir / self.folder / content_key(self.folder, self.version, source, keyed)

    def run(self, artifacts_dir: Path, refresh: bool, inputs: dict[str, Any]) -> State:
        """Run the task, or take its cached result while its artifact is complete and ``refresh`` is off."""
        out_dir = self.out_dir(artifacts_dir, inputs)
        task = self.task.with_options(refresh_cache=refresh or not is_complete(out_dir))
        return task(**inputs, out_dir=str(out_dir), return_state=True)


class StepReport(BaseModel):
    name: str
    seconds: float
    cached: bool
    path: str


class StepRunner:
    """Runs steps as cached Prefect tasks, each writing into the artifact directory its inputs name."""

    def __init__(self, artifacts_dir: Path, refresh: bool):
        self.artifacts_dir = artifacts_dir
        self.refresh = refresh
        self.reports: list[StepReport] = []

    def run(self, step: Step, **inputs: Any) -> str:
        started = time.perf_counter()
        state = step.run(self.artifacts_dir, self.refresh, inputs)
        path = state.result()
        seconds = time.perf_counter() - started
        self.reports.append(StepReport(name=step.folder, seconds=round(seconds, 1), cached=state.name == "Cached", path=path))
        return path


def checkpoint_dir(out_dir: Path) -> Path:
    """Where a training step keeps epoch checkpoints: beside the artifacts, not inside the partial
    directory, so they outlive a failed run."""
    return out_dir.parent.parent / "checkpoints" / out_dir.name


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
    sizes = {
        str(file.relative_to(path)): file.stat().st_size
        for file in sorted(path.rglob("*"))
        if file.is_file()
    }
    (path / MANIFEST).write_text(json.dumps(sizes, indent=1))


@contextmanager
def building(out_dir: Path) -> Iterator[Path]:
    """Yield a temporary sibling of ``out_dir`` to write into; on success it replaces
    ``out_dir`` whole, on failure it is removed and ``out_dir`` is left as it was."""
    out_dir = Path(out_dir)
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        partial = out_dir.parent / f".{out_dir.name}.partial-{uuid.uuid4().hex[:8]}"
        partial.mkdir()
    except OSError as error:
        raise PipelineError(f"cannot write artifacts under {out_dir.parent}: {error.strerror}") from error
    try:
        yield partial
        _write_manifest(partial)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(partial, out_dir)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2, sort_keys=False, default=_jsonable) + "\n")


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text())


class OutDirKey(CachePolicy):
    """Key a task's cached result by its ``out_dir``, which already hashes every input.

    Prefect cannot check a hit before using it, so `Step.run` refreshes the cache
    whenever that directory is missing or incomplete: a hit always names a complete artifact.
    """

    def compute_key(
        self,
        task_ctx: TaskRunContext,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        return content_key(str(Path(inputs["out_dir"]).resolve()))


def ensure_writable(artifacts_dir: Path) -> None:
    """Fail early, with the directory named, when artifacts cannot be written."""
    probe = artifacts_dir / f".write-test-{uuid.uuid4().hex[:8]}"
    try:
        artifacts_dir.mkdir(parents=True, exist_ok=True)
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise PipelineError(f"artifacts directory {artifacts_dir} is not writable: {error.strerror}") from error


def hash_files(paths: list[Path]) -> str:
    """Digest of file names and contents, so a local dataset or model that changes gets new keys."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.name.encode())
        with open(path, "rb") as stream:
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()[:16]

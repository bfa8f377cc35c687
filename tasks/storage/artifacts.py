"""Artifacts on disk and in a bucket: where they are, reading them, and writing them atomically.

A directory is built under a temporary name and renamed into place with a manifest of its files; only a
directory whose manifest matches its files counts as complete. The leftovers of runs that died are removed
once nobody holds their lock (`tasks.storage.locks`).

The artifacts directory may also be a bucket (``s3://…``, see `tasks.storage.buckets`): a step then builds in this
machine's staging directory exactly as above, commits the result to the bucket, and a location is a URL that
`local_dir` and `read_artifact` turn into files.
"""

import errno
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from tasks.console import run_logger
from tasks.errors import PipelineError, cannot_write
from tasks.storage import buckets
from tasks.storage.buckets import is_remote
from tasks.storage.catalog import CHECKPOINTS, COMMIT, MANIFEST
from tasks.storage.locks import artifact_lock, lock_path, try_lock

# What `building` leaves beside ``<key>`` while it works: its partial directory, and the
# finished artifact it is replacing. Either one outliving its builder is a leftover.
LEFTOVER = re.compile(r"\.(?P<key>.+)\.(?:partial|replaced)-[0-9a-f]{8}")


def location(root: Path | str, *names: str) -> Path | str:
    """Where ``names`` are under the artifacts directory ``root``: a path on disk, a URL in a bucket."""
    return buckets.join(root, *names) if is_remote(root) else Path(root, *names)


def local_dir(path: Path | str) -> Path:
    """An artifact as a directory on this machine: itself on disk; from a bucket, its staged copy,
    downloaded first unless it is the committed one already."""
    if not is_remote(path):
        return Path(path)
    staged = buckets.staged_dir(path)
    with artifact_lock(staged):
        record = _committed(path)
        if _is_current(staged, record):
            return staged
        started = time.perf_counter()
        with building(staged) as partial:
            size = buckets.download(path, record, partial)
        buckets.note_writer(staged, record["writer"])
    run_logger().info(f"Downloaded {path} ({size / 1e6:.1f} MB) in {time.perf_counter() - started:.1f} s")
    return staged


def read_artifact(path: Path | str, name: str) -> bytes:
    """One file of an artifact; from a bucket, the staged copy's when it is current, else that file alone."""
    if not is_remote(path):
        return (Path(path) / name).read_bytes()
    record, staged = _committed(path), buckets.staged_dir(path)
    if _is_current(staged, record):
        return (staged / name).read_bytes()
    return buckets.read_file(path, record, name)


def read_artifact_json(path: Path | str, name: str) -> Any:
    return json.loads(read_artifact(path, name))


def is_finished(path: Path | str) -> bool:
    """True for a complete artifact on disk or a committed one in a bucket."""
    return buckets.committed(path) is not None if is_remote(path) else is_complete(Path(path))


def _is_current(staged: Path, record: dict) -> bool:
    """True when ``staged`` is a complete copy of the artifact ``record`` commits."""
    return buckets.is_copy_of(staged, record) and is_complete(staged)


def _committed(path: str) -> dict:
    record = buckets.committed(path)
    if record is None:
        raise PipelineError(f"{path} is not a committed artifact: it has no {COMMIT}")
    return record


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
        raise cannot_write(out_dir.parent, error) from error
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
        with open(lock_path(out_dir), "a") as lock_file:
            if try_lock(lock_file):
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
        buckets.ensure_writable(artifacts_dir)
        return
    probe = artifacts_dir / f".write-test-{uuid.uuid4().hex[:8]}"
    try:
        artifacts_dir.mkdir(parents=True, exist_ok=True)
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise PipelineError(f"artifacts directory {artifacts_dir} is not writable: {error.strerror}") from error

"""Retention: what an artifacts directory still needs, and removing the rest (``python -m flows.prune``).

Kept, per model name in the registry: the published release and the last ``keep`` releases, with the
step artifacts each was made from (its ``built_from.json``). Removable: every other step artifact, the
checkpoints of failed runs and the Hub downloads, and partial directories whose builder is gone. Never
removed: an artifact whose lock a running flow holds, or one made or reused within ``min_age`` (a run in
progress may be using it: a step that reuses an artifact touches its directory). A release made before
releases recorded what they were made from keeps every step artifact as old as it. The registry keeps
every release's record, marked ``pruned`` once its directory is gone. A bucket's: `tasks.storage.bucket_retention`.
"""

import fcntl
import os
import shutil
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import BaseModel

from tasks.scores.quality_gate import registry_entry
from tasks.storage.artifacts import LEFTOVER
from tasks.storage.catalog import BUILT_FROM, LEFT_BY_RUNS, REGISTRY, STEP_FOLDERS
from tasks.storage.files import read_json, replace_json
from tasks.storage.locks import file_lock


class Removal(BaseModel):
    path: str
    why: str


class Plan(BaseModel):
    """What prune keeps and removes, and what it leaves because it is in use or too young."""

    kept_releases: list[str]
    remove: list[Removal]
    held: list[str]  # a running flow holds their lock
    young: list[str]  # younger than min_age
    freed_bytes: int  # what removing ``remove`` frees (a file still linked from a kept artifact frees nothing)


def kept_releases(registry: dict, keep: int) -> list[str]:
    """Per model name, the published release and the last ``keep`` releases of its history."""
    kept = []
    for name in registry:
        entry = registry_entry(registry, name)
        history = [release["release_dir"] for release in entry["history"] if not release.get("pruned")]
        published = [entry["published"]["release_dir"]] if entry["published"] else []
        kept += [path for path in dict.fromkeys([*published, *(history[-keep:] if keep else [])]) if path not in kept]
    return kept


def made_from(release: Path) -> set[str] | None:
    """The step artifacts a release was made from; None when it does not record them."""
    if not (release / BUILT_FROM).is_file():
        return None
    return {str(Path(path)) for path in read_json(release / BUILT_FROM).values() if path}


def _artifact_of(path: Path) -> Path:
    """The artifact a path is, or is a leftover of (whose lock its builder held)."""
    leftover = LEFTOVER.fullmatch(path.name)
    return path.parent / leftover["key"] if leftover else path


@contextmanager
def unless_held(path: Path) -> Iterator[bool]:
    """Hold the lock of the artifact ``path`` is (or is a leftover of), so that no run builds or reuses it
    meanwhile: True; False when a running flow holds it."""
    artifact = _artifact_of(path)
    lock = artifact.parent / f".{artifact.name}.lock"
    if not lock.exists():
        yield True
        return
    with open(lock, "a") as handle:  # closing it releases the lock
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True


def _candidates(root: Path) -> Iterator[tuple[Path, str]]:
    """Every artifact, leftover and run's leftover under ``root``, with what it is."""
    for folder in (*STEP_FOLDERS, *LEFT_BY_RUNS):
        if not (root / folder).is_dir():
            continue
        for path in sorted((root / folder).iterdir()):
            if path.is_dir() and (match := LEFTOVER.fullmatch(path.name)):
                yield path, f"a partial {folder} artifact whose builder is gone (key {match['key']})"
            elif path.is_dir() and not path.name.startswith("."):
                yield (
                    path,
                    f"no kept release was made from this {folder} artifact"
                    if folder in STEP_FOLDERS
                    else f"{folder} left by a run",
                )


def plan_removal(root: Path, keep: int, min_age_seconds: float, now: float | None = None) -> Plan:
    """What to remove from the artifacts directory ``root`` (nothing is removed here)."""
    now = time.time() if now is None else now
    registry = read_json(root / REGISTRY) if (root / REGISTRY).is_file() else {}
    kept = kept_releases(registry, keep)
    needed, undocumented = set(kept), 0.0  # the mtime of the newest kept release that names no inputs
    for release in map(Path, kept):
        inputs = made_from(release)
        if inputs is None and release.exists():
            undocumented = max(undocumented, release.stat().st_mtime)
        needed |= inputs or set()
    candidates = (
        (path, why)
        for path, why in _candidates(root)
        if str(path) not in needed and not (path.parent.name in STEP_FOLDERS and path.stat().st_mtime <= undocumented)
    )
    remove, held, young = sort_out(candidates, min_age_seconds, now)
    return Plan(
        kept_releases=kept,
        remove=remove,
        held=held,
        young=young,
        freed_bytes=freed_bytes([Path(r.path) for r in remove]),
    )


def sort_out(
    candidates: Iterable[tuple[Path, str]], min_age_seconds: float, now: float
) -> tuple[list[Removal], list[str], list[str]]:
    """Split local ``candidates`` (a path and why it may go) into what to remove, what a running flow holds
    and what was made or used within ``min_age_seconds``."""
    remove, held, young = [], [], []
    for path, why in candidates:
        with unless_held(path) as free:
            if not free:
                held.append(str(path))
            elif now - path.stat().st_mtime < min_age_seconds:
                young.append(str(path))
            else:
                remove.append(Removal(path=str(path), why=why))
    return remove, held, young


def freed_bytes(paths: list[Path]) -> int:
    """Bytes freed by removing ``paths``: a file counts once, and only when all its hard links are among them."""
    links: dict[tuple[int, int], list] = {}
    for path in paths:
        for folder, _, names in os.walk(path):
            for name in names:
                status = os.lstat(os.path.join(folder, name))
                links.setdefault((status.st_dev, status.st_ino), [status.st_nlink, status.st_size, 0])[2] += 1
    return sum(size for nlink, size, seen in links.values() if seen >= nlink)


def apply_plan(root: Path, plan: Plan) -> list[str]:
    """Remove what the plan says, each under its lock, and mark the removed releases in the registry."""
    removed = remove_unheld([Path(removal.path) for removal in plan.remove])
    _mark_pruned(root, {path for path in removed if Path(path).parent.name == "release"})
    return removed


def remove_unheld(paths: list[Path]) -> list[str]:
    """Remove each of ``paths`` under its artifact's lock, unless a running flow has taken it since it was
    planned; return what was removed."""
    removed = []
    for path in paths:
        with unless_held(path) as free:
            if free and path.exists():
                shutil.rmtree(path)
                removed.append(str(path))
    return removed


def _mark_pruned(root: Path, releases: set[str]) -> None:
    path = root / REGISTRY
    if not releases or not path.is_file():
        return
    with file_lock(path.with_name(f".{REGISTRY}.lock"), f"another run writing {path}"):
        registry = read_json(path)
        for name in registry:
            entry = registry_entry(registry, name)
            for release in entry["history"]:
                if release["release_dir"] in releases:
                    release["pruned"] = True
            registry[name] = entry
        replace_json(path, registry)

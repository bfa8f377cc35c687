"""Retention in a bucket (`tasks.storage.retention` for an artifacts directory given as a URL).

The same rule as on disk: per model name, the published release and the last ``keep`` releases are kept
with the step artifacts each was made from. A bucket has no lock, so an artifact's age is the later of
its commit and its last reuse (`tasks.storage.buckets.note_use`), and nothing made, reused or written within
``min_age`` is removed. Besides the artifacts no kept release needs, prune removes the files of writers
that no commit record names (a writer that lost the race and died before removing them, or one that died
mid-upload) and this machine's staged copies of what it removes or of a writer no longer committed.
An artifact goes commit record first, so no reader ever takes a half-removed one as complete; the
registry keeps every release's record, marked ``pruned``.
"""

import time
from pathlib import Path, PurePosixPath

from tasks.scores.quality_gate import Release
from tasks.storage import buckets, retention
from tasks.storage.artifacts import LEFTOVER, read_artifact_json
from tasks.storage.catalog import BUCKET_REGISTRY, BUILT_FROM, COMMIT, LEFT_BY_RUNS, STEP_FOLDERS, USED
from tasks.storage.retention import Plan, Removal

# Objects of an artifact's prefix that are not a writer's files.
_MARKS = {COMMIT, USED}


def _registry(root: str) -> dict[str, list[tuple[str, dict]]]:
    """Per model name, its release records with their object names, oldest first."""
    folder = buckets.join(root, BUCKET_REGISTRY)
    by_name: dict[str, list[tuple[str, dict]]] = {}
    for name, record in buckets.named_records(folder):
        by_name.setdefault(PurePosixPath(name).parent.name, []).append((name, record))
    return by_name


def _as_registry(records: dict[str, list[tuple[str, dict]]]) -> dict:
    """The bucket's records in the shape of the local registry: a history and the last published, per name."""
    registry = {}
    for name, named in records.items():
        history = [record for _, record in named]
        published = [record for record in history if Release.model_validate(record).decision.publish]
        registry[name] = {"published": published[-1] if published else None, "history": history}
    return registry


def _needed(kept: list[str], commits: dict[str, dict | None]) -> tuple[set[str], float]:
    """What the kept releases were made from, and the commit time of the newest kept release that does not
    say (every artifact as old as it is kept)."""
    needed, undocumented = set(kept), 0.0
    for release in kept:
        record = commits.get(release)
        if record is None:
            continue
        if BUILT_FROM in record["files"]:
            needed |= {path for path in read_artifact_json(release, BUILT_FROM).values() if path}
        else:
            undocumented = max(undocumented, record["committed"])
    return needed, undocumented


def _by_artifact(root: str) -> dict[str, dict[str, tuple[int, float]]]:
    """The bucket's objects under its step folders, grouped by artifact (``<folder>/<key>``)."""
    grouped: dict[str, dict[str, tuple[int, float]]] = {}
    for name, found in buckets.objects(root).items():
        parts = name.split("/")
        if len(parts) >= 3 and parts[0] in STEP_FOLDERS:
            grouped.setdefault("/".join(parts[:2]), {})["/".join(parts[2:])] = found
    return grouped


def plan_bucket_removal(root: str, keep: int, min_age_seconds: float, now: float | None = None) -> Plan:
    """What to remove from the bucket artifacts directory ``root`` and from this machine's staging directory
    (nothing is removed here)."""
    now = time.time() if now is None else now
    artifacts = _by_artifact(root)
    # Each commit record read once, for the bucket's plan and the staged copies'.
    commits = {
        buckets.join(root, artifact): buckets.committed(buckets.join(root, artifact))
        for artifact, found in artifacts.items()
        if COMMIT in found
    }
    in_bucket = _plan_in_bucket(root, artifacts, commits, keep, (min_age_seconds, now))
    staged = _plan_in_staging(root, commits, {removal.path for removal in in_bucket.remove}, (min_age_seconds, now))
    return Plan(
        kept_releases=in_bucket.kept_releases,
        remove=in_bucket.remove + staged.remove,
        held=staged.held,
        young=in_bucket.young + staged.young,
        freed_bytes=in_bucket.freed_bytes + staged.freed_bytes,
    )


def _plan_in_bucket(
    root: str, artifacts: dict, commits: dict[str, dict | None], keep: int, age: tuple[float, float]
) -> Plan:
    min_age_seconds, now = age
    kept = retention.kept_releases(_as_registry(_registry(root)), keep)
    needed, undocumented = _needed(kept, commits)
    remove, young, freed = [], [], 0
    for artifact, found in sorted(artifacts.items()):
        location = buckets.join(root, artifact)
        for path, entries, why in _removable(location, found, commits.get(location), (needed, undocumented)):
            if now - max(modified for _, modified in entries) < min_age_seconds:
                young.append(path)
            else:
                remove.append(Removal(path=path, why=why))
                freed += sum(size for size, _ in entries)
    return Plan(kept_releases=kept, remove=remove, held=[], young=young, freed_bytes=freed)


def _removable(location: str, found: dict[str, tuple[int, float]], record: dict | None, kept: tuple[set[str], float]):
    """The artifact at ``location`` (committed by ``record``) when nothing kept needs it, else the files of
    writers its commit record does not name; each with its objects' sizes and times and why it goes."""
    needed, undocumented = kept
    if record and location not in needed and record["committed"] > undocumented:
        folder = PurePosixPath(location).parent.name
        return [(location, list(found.values()), f"no kept release was made from this {folder} artifact")]
    writers: dict[str, list[tuple[int, float]]] = {}
    for name, entry in found.items():
        if name not in _MARKS:
            writers.setdefault(name.split("/")[0], []).append(entry)
    return [
        (buckets.join(location, writer), entries, f"files of writer {writer}, which no commit record names")
        for writer, entries in writers.items()
        if not record or writer != record["writer"]
    ]


def _plan_in_staging(root: str, commits: dict[str, dict | None], removed: set[str], age: tuple[float, float]) -> Plan:
    """This machine's staged copies of what is ``removed`` from the bucket or of writers no longer committed,
    partial staged copies whose builder is gone, and the checkpoints and downloads runs left in staging.
    Staged copies with no artifact in this bucket may be another bucket's and are left alone."""
    staging = buckets.staging_root()
    candidates = []
    for folder in (*STEP_FOLDERS, *LEFT_BY_RUNS):
        for path in sorted((staging / folder).iterdir()) if (staging / folder).is_dir() else []:
            if folder in LEFT_BY_RUNS and path.is_dir():
                candidates.append((path, f"{folder} left by a run"))
            elif path.is_dir() and (match := LEFTOVER.fullmatch(path.name)):
                candidates.append(
                    (path, f"a partial staged {folder} artifact whose builder is gone (key {match['key']})")
                )
            elif path.is_dir() and not path.name.startswith("."):
                location = buckets.join(root, folder, path.name)
                why = _stale_copy(location, path, commits.get(location), removed)
                candidates += [(path, why)] if why else []
    remove, held, young = retention.sort_out(candidates, *age)
    return Plan(
        kept_releases=[],
        remove=remove,
        held=held,
        young=young,
        freed_bytes=retention.freed_bytes([Path(r.path) for r in remove]),
    )


def _stale_copy(location: str, staged: Path, record: dict | None, removed: set[str]) -> str | None:
    if location in removed:
        return f"a staged copy of {location}, which prune removes"
    if record and not buckets.is_copy_of(staged, record):
        return f"a staged copy of a writer of {location} that is no longer committed"
    return None


def apply_bucket_plan(root: str, plan: Plan) -> list[str]:
    """Remove what the plan says, in the bucket and in staging, and mark the removed releases' records ``pruned``."""
    in_bucket = [removal.path for removal in plan.remove if buckets.is_remote(removal.path)]
    for location in in_bucket:
        buckets.remove(location)
    staged = retention.remove_unheld(
        [Path(removal.path) for removal in plan.remove if not buckets.is_remote(removal.path)]
    )
    for path in map(Path, staged):
        path.with_name(f"{path.name}.writer").unlink(missing_ok=True)
    _mark_pruned(root, {location for location in in_bucket if location.startswith(buckets.join(root, "release", ""))})
    return in_bucket + staged


def _mark_pruned(root: str, releases: set[str]) -> None:
    folder = buckets.join(root, BUCKET_REGISTRY)
    for named in _registry(root).values() if releases else []:
        for name, record in named:
            if record["release_dir"] in releases and not record.get("pruned"):
                buckets.rewrite_record(folder, name, {**record, "pruned": True})

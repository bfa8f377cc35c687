"""Artifacts in object storage: an artifacts directory given as an fsspec URL (``s3://bucket/prefix``,
``gs://…``, ``az://…``), through fsspec and the backend installed for it (s3fs, gcsfs, adlfs).

A bucket has no rename and no lock, so a step builds its artifact in a local staging directory,
as it would on disk, then commits it: every file goes up under ``<location>/<writer id>/``, and
then ``<location>/commit.json``, written only if absent, names that writer and its files. That
record is the commit: a reader trusts nothing without it, so a half-uploaded artifact is never
taken as complete, and of two writers of one key the first record wins and the other removes its
files. Whether a step is cached is one read of the record. (A manifest is always a local
directory's list of its files and sizes, `MANIFEST`.)

Steps that need files on disk (transformers and datasets load directories) fetch an artifact whole
into the staging directory, ``$FINETUNE_STAGING_DIR/<folder>/<key>``, beside a note of the writer
it came from, and reuse it while that writer is the committed one. Credentials are the backend's
own: environment variables, config files, instance roles (``AWS_ENDPOINT_URL`` for an S3 stand-in).
"""

import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator

from tasks.errors import PipelineError, first_line
from tasks.storage.catalog import COMMIT, MANIFEST, USED

STAGING_VARIABLE = "FINETUNE_STAGING_DIR"
ATTEMPTS_VARIABLE = "FINETUNE_BUCKET_ATTEMPTS"
# The packages whose errors a store's failures come as, besides OSError.
STORE_CLIENTS = {"botocore", "aiobotocore", "aiohttp", "google", "azure"}
BACKENDS = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs", "abfs": "adlfs"}

_transferred = {"uploaded": 0, "downloaded": 0}
_transferred_lock = threading.Lock()


def _artifacts_location(value: Any) -> Path | str:
    text = str(value)
    if text.startswith("file://"):
        return Path(text.removeprefix("file://"))
    return text.rstrip("/") if is_remote(text) else Path(text)


# An artifacts directory: a local path (``file://`` URLs included), or a bucket's URL, kept as text.
ArtifactsLocation = Annotated[str | Path, BeforeValidator(_artifacts_location)]


def is_remote(location: Any) -> bool:
    """True for a URL such as ``s3://bucket/key``: a location fsspec reaches, not a local path."""
    return "://" in str(location) and not str(location).startswith("file://")


def join(location: str, *names: str) -> str:
    """The URL ``location`` with ``names`` appended (a `Path` would fold its ``//``)."""
    return "/".join([location.rstrip("/"), *names])


def staging_root() -> Path:
    """Where artifacts are built and fetched on this machine: ``$FINETUNE_STAGING_DIR``, else
    ``~/.cache/finetune/staging``."""
    configured = os.environ.get(STAGING_VARIABLE)
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "finetune" / "staging"


def staged_dir(location: str) -> Path:
    """The local copy of the artifact at ``location`` (``…/<folder>/<key>``)."""
    folder, key = location.rstrip("/").split("/")[-2:]
    return staging_root() / folder / key


def _writer_note(staged: Path) -> Path:
    return staged.with_name(f"{staged.name}.writer")


def filesystem(location: str):
    """The fsspec filesystem for ``location`` and the path within it; a missing backend is named."""
    import fsspec

    scheme = location.split("://")[0]
    try:
        fs, path = fsspec.core.url_to_fs(location, **_retry_options(scheme))
    except ImportError as error:
        package = BACKENDS.get(scheme, f"the fsspec backend for {scheme}://")
        raise PipelineError(f"artifacts in {scheme}:// need {package}: pip install {package}") from error
    except ValueError as error:
        raise PipelineError(f"{location}: fsspec knows no storage called {scheme}:// ({error})") from error
    if BACKENDS.get(scheme) == "s3fs":
        fs.retries = 2  # s3fs's own loop, over what botocore does not retry (a body cut short, a slow answer)
    return fs, path


def _retry_options(scheme: str) -> dict[str, Any]:
    """How a backend retries what a store fails transiently (503 SlowDown, 500, a reset connection, a timeout).
    For S3, botocore's standard mode (exponential backoff with jitter, up to 20 s apart) makes each request
    ``$FINETUNE_BUCKET_ATTEMPTS`` attempts (default 8), unless the user chose botocore's own settings
    (AWS_MAX_ATTEMPTS, AWS_RETRY_MODE), and s3fs tries a failed call once more. gcsfs and adlfs retry on their own."""
    if BACKENDS.get(scheme) != "s3fs" or {"AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE"} & set(os.environ):
        return {}
    retries = {"max_attempts": int(os.environ.get(ATTEMPTS_VARIABLE) or 8), "mode": "standard"}
    return {"config_kwargs": {"retries": retries, "connect_timeout": 10, "read_timeout": 60}}


@contextmanager
def _operation(what: str) -> Iterator[None]:
    """Name ``what`` was being done when the store fails it after its retries. A missing or existing object is
    an answer, not a failure, and passes through."""
    try:
        yield
    except (FileNotFoundError, FileExistsError):
        raise
    except Exception as error:
        if not _store_failure(error):
            raise
        raise PipelineError(f"{what} failed: {first_line(error)}") from error


def _store_failure(error: Exception) -> bool:
    return isinstance(error, OSError) or type(error).__module__.split(".")[0] in STORE_CLIENTS


def _count(direction: str, size: int) -> None:
    with _transferred_lock:
        _transferred[direction] += size


def transferred() -> dict[str, int]:
    """Bytes this process has uploaded to and downloaded from object storage so far."""
    with _transferred_lock:
        return dict(_transferred)


def committed(location: str) -> dict | None:
    """The commit record of the artifact at ``location`` (its writer and files), or None before it is committed."""
    fs, path = filesystem(location)
    try:
        with _operation(f"reading the commit record of {location}"):
            return json.loads(fs.cat_file(f"{path}/{COMMIT}"))
    except FileNotFoundError:
        return None


def local_files(local_dir: Path) -> dict[str, int]:
    """The files of a finished local artifact and their sizes, from its manifest."""
    return json.loads((local_dir / MANIFEST).read_text())


def commit(local_dir: Path, location: str, replace: bool = False) -> str | None:
    """Upload the finished ``local_dir`` to ``location`` and commit it; return the writer id, or None
    when another writer committed first (its artifact stands and ours is removed). ``replace`` (a
    refreshed step) commits over a committed artifact, whose files are then removed."""
    fs, path = filesystem(location)
    writer, files = uuid.uuid4().hex[:12], local_files(local_dir)
    names = sorted(files)
    try:
        with _operation(f"uploading {len(names)} files to {location}"):
            fs.put([str(local_dir / name) for name in names], [f"{path}/{writer}/{name}" for name in names])
        record = {"writer": writer, "files": files, "committed": time.time()}
        replaced = committed(location) if replace else None
        with _operation(f"writing the commit record of {location}"):
            fs.pipe_file(
                f"{path}/{COMMIT}", json.dumps(record, indent=1).encode(), mode="overwrite" if replace else "create"
            )
    except FileExistsError:
        # Ours when an earlier attempt of this request wrote the record and its answer was lost on the way back.
        if (committed(location) or {}).get("writer") != writer:  # another writer's: its artifact stands
            _discard(fs, f"{path}/{writer}")
            return None
    except BaseException:  # our files are nobody's: removed if the store lets us, else by retention
        _discard(fs, f"{path}/{writer}")
        raise
    if replaced:
        with _operation(f"removing the replaced files of {location}"):
            fs.rm(f"{path}/{replaced['writer']}", recursive=True)
    _count("uploaded", sum(files.values()))
    return writer


def _discard(fs, path: str) -> None:
    with suppress(Exception):
        fs.rm(path, recursive=True)


def put_files(local_dir: Path, location: str, names: list[str]) -> None:
    """Copy files to ``location``, replacing what is there: for reports, which are not artifacts."""
    fs, path = filesystem(location)
    with _operation(f"uploading {', '.join(names)} to {location}"):
        fs.put([str(local_dir / name) for name in names], [f"{path}/{name}" for name in names])
    _count("uploaded", sum((local_dir / name).stat().st_size for name in names))


def add_record(folder: str, value: Any) -> None:
    """Add ``value`` to the records in ``folder`` as an object of its own, named to sort in time order."""
    fs, path = filesystem(folder)
    name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.json"
    with _operation(f"adding a record to {folder}"), suppress(FileExistsError):  # the name is ours alone: an
        fs.pipe_file(f"{path}/{name}", json.dumps(value, indent=1).encode(), mode="create")  # earlier attempt wrote it


def listing(location: str) -> list[str]:
    """Every object under ``location``, as paths in its store, sorted; listed afresh, since another machine
    may have written since this process last listed."""
    fs, path = filesystem(location)
    fs.invalidate_cache(path)
    with _operation(f"listing {location}"):
        return sorted(fs.find(path))


def named_records(folder: str) -> list[tuple[str, Any]]:
    """The records in ``folder``, oldest first, each with its object's path in the store."""
    fs, _ = filesystem(folder)
    names = listing(folder)
    with _operation(f"reading the records in {folder}"):
        contents = fs.cat(names) if names else {}
    return [(name, json.loads(contents[name])) for name in names]


def read_records(folder: str) -> list[Any]:
    """The records in ``folder``, oldest first."""
    return [value for _, value in named_records(folder)]


def rewrite_record(folder: str, name: str, value: Any) -> None:
    """Replace the record ``name`` (a path `named_records` gave) in ``folder``: for retention's marks only."""
    fs, _ = filesystem(folder)
    with _operation(f"rewriting the record {name} in {folder}"):
        fs.pipe_file(name, json.dumps(value, indent=1).encode(), mode="overwrite")


def note_use(location: str) -> None:
    """Record that a run reuses the committed artifact at ``location`` now: retention keeps what was used lately."""
    fs, path = filesystem(location)
    with _operation(f"noting the reuse of {location}"):
        fs.pipe_file(f"{path}/{USED}", b"", mode="overwrite")


def objects(location: str) -> dict[str, tuple[int, float]]:
    """Every object under ``location``, by its path below it: its size and when it was last written (seconds)."""
    fs, path = filesystem(location)
    fs.invalidate_cache(path)
    with _operation(f"listing {location}"):
        found = fs.find(path, detail=True)
    return {name.removeprefix(f"{path}/"): (info.get("size") or 0, _modified(info)) for name, info in found.items()}


def _modified(info: dict) -> float:
    # Each backend names it its own way: s3fs LastModified, adlfs last_modified, gcsfs updated (text).
    value = next((info[name] for name in ("LastModified", "last_modified", "updated", "mtime") if info.get(name)), 0)
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value.timestamp() if isinstance(value, datetime) else float(value)


def remove(location: str) -> None:
    """Remove ``location`` and everything under it; an artifact's commit record goes first, so that no reader
    ever takes a half-removed artifact as complete."""
    fs, path = filesystem(location)
    with _operation(f"removing {location}"), suppress(FileNotFoundError):
        fs.rm_file(f"{path}/{COMMIT}")
    with _operation(f"removing {location}"), suppress(FileNotFoundError):
        fs.rm(path, recursive=True)


def note_writer(staged: Path, writer: str | None) -> None:
    """Record which committed writer ``staged`` is a copy of (None: of none, so it is fetched again)."""
    note = _writer_note(staged)
    if writer:
        note.write_text(writer)
    else:
        note.unlink(missing_ok=True)


def is_copy_of(staged: Path, record: dict) -> bool:
    """True when ``staged`` was fetched from, or committed as, the writer ``record`` names."""
    note = _writer_note(staged)
    return note.is_file() and note.read_text() == record["writer"]


def download(location: str, record: dict, into: Path) -> int:
    """Download the files ``record`` commits into the directory ``into``; return their bytes."""
    fs, path = filesystem(location)
    names = sorted(record["files"])
    with _operation(f"downloading {location}"):
        fs.get([f"{path}/{record['writer']}/{name}" for name in names], [str(into / name) for name in names])
    size = sum(record["files"].values())
    _count("downloaded", size)
    return size


def read_file(location: str, record: dict, name: str) -> bytes:
    """One file of the artifact ``record`` commits, read from the store alone."""
    if name not in record["files"]:
        raise FileNotFoundError(f"{location} has no file {name}")
    fs, path = filesystem(location)
    with _operation(f"reading {name} of {location}"):
        data = fs.cat_file(f"{path}/{record['writer']}/{name}")
    _count("downloaded", len(data))
    return data


def ensure_writable(location: str) -> None:
    """Fail early, with the URL named, when the store cannot be written (no bucket, no credentials)."""
    fs, path = filesystem(location)
    probe = f"{path}/.write-test-{uuid.uuid4().hex[:8]}"
    try:
        fs.pipe_file(probe, b"")
        fs.rm(probe)
    except Exception as error:
        if not (isinstance(error, ValueError) or _store_failure(error)):
            raise
        raise PipelineError(f"artifacts directory {location} is not writable: {first_line(error)}") from error

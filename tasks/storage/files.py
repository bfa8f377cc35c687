"""Files as steps and training processes read and write them: JSON (whole, a row a line, or replaced at once)
and digests of files. It imports nothing heavy, so that the training process (`tasks.engines`) reads and
writes without Prefect."""

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel


def jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write a {type(value).__name__} as JSON")


def _json_text(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=False, default=jsonable) + "\n"


def write_json(path: Path, value: Any) -> None:
    path.write_text(_json_text(value))


def write_json_lines(path: Path, rows: list) -> None:
    """One JSON object per line, unescaped (words in any script stay readable)."""
    with open(path, "w", encoding="utf-8") as stream:
        stream.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def replace_json(path: Path, value: Any) -> None:
    """Write ``path`` as `write_json` does, but all at once: a reader sees the old file or the
    new one, never part of it, and a crash leaves the old one."""
    text = _json_text(value)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", delete=False) as stream:
        try:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        except BaseException:
            os.unlink(stream.name)
            raise
    os.replace(stream.name, path)


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text())


def _add_file(digest: Any, path: Path) -> None:
    with open(path, "rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)


def hash_files(paths: list[Path]) -> str:
    """Digest of file names and contents, so a local dataset or model that changes gets new keys."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.name.encode())
        _add_file(digest, path)
    return digest.hexdigest()[:16]


def weights_sha256(model_dir: Path) -> str:
    """The identity of a model: the sha256 of its weight files."""
    digest = hashlib.sha256()
    for path in sorted(Path(model_dir).glob("*.safetensors")) or sorted(Path(model_dir).glob("pytorch_model*.bin")):
        _add_file(digest, path)
    return digest.hexdigest()

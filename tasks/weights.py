"""Whether a model's weight files are whole, read before torch or onnxruntime loads them, so that a damaged
file (a copy cut short, a full disk elsewhere, a page saved in its place) is one line naming the file and what
is wrong with it rather than a loader's traceback.

A safetensors file is an 8-byte header length, a JSON header giving each tensor's byte range, and the bytes:
the header tells how long the file must be. A pickle (``pytorch_model.bin``) is a zip archive. When the
release records its weights' sha256 (its card's ``weights_sha256``), the files must hash to it.
"""

import json
import zipfile
from pathlib import Path

from tasks.errors import PipelineError
from tasks.storage.files import weights_sha256

SAFETENSORS_INDEX = "model.safetensors.index.json"
_LARGEST_HEADER = 100_000_000  # what safetensors itself accepts


def safetensors_problem(path: Path) -> str | None:
    """What is wrong with a safetensors file, or None when its size is the one its header describes."""
    size = path.stat().st_size
    with path.open("rb") as file:
        prefix = file.read(8)
        length = int.from_bytes(prefix, "little") if len(prefix) == 8 else 0
        if len(prefix) < 8 or length > _LARGEST_HEADER:
            return f"not safetensors: its first bytes are not a header length ({size:,} bytes in all)"
        header = file.read(length)
    if not header.lstrip().startswith(b"{"):
        return "not safetensors: its header is not JSON"
    if len(header) < length:
        return f"truncated: {size:,} bytes, cut inside its {length:,}-byte header"
    try:
        tensors = json.loads(header)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return "not safetensors: its header is not JSON"
    ends = [
        entry["data_offsets"][1]
        for name, entry in tensors.items()
        if name != "__metadata__" and isinstance(entry, dict)
    ]
    expected = 8 + length + max(ends, default=0)
    if size < expected:
        return f"truncated: {size:,} bytes where its header describes {expected:,}"
    return None


def _weight_files(model_dir: Path) -> list[Path]:
    index = model_dir / SAFETENSORS_INDEX
    if index.is_file():
        return [model_dir / name for name in sorted(set(json.loads(index.read_text())["weight_map"].values()))]
    return sorted(model_dir.glob("*.safetensors")) or sorted(model_dir.glob("pytorch_model*.bin"))


def weights_problem(model_dir: Path, recorded_sha256: str | None = None) -> str | None:
    """The first weight file of ``model_dir`` that is damaged, and how; or that the files do not hash to
    ``recorded_sha256``, when the release records one."""
    for path in _weight_files(model_dir):
        if not path.is_file():
            return f"{path}: missing, though {SAFETENSORS_INDEX} names it"
        problem = (
            safetensors_problem(path)
            if path.suffix == ".safetensors"
            else (None if zipfile.is_zipfile(path) else "not a PyTorch pickle: it is not a zip archive")
        )
        if problem:
            return f"{path}: {problem}"
    found = weights_sha256(model_dir) if recorded_sha256 else None
    if found != recorded_sha256:
        return f"{model_dir}: its weights' sha256 {found[:12]}… is not the {recorded_sha256[:12]}… its card records"
    return None


def check_weights(model_dir: Path, recorded_sha256: str | None = None) -> None:
    """A `PipelineError` naming the damaged file when `weights_problem` finds one."""
    problem = weights_problem(model_dir, recorded_sha256)
    if problem:
        raise PipelineError(f"the model's weights do not load: {problem}")

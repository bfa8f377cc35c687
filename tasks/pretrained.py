"""The pretrained model a run starts from: resolved once, before any step runs."""

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict

from tasks.artifacts import hash_files
from tasks.assets import EMBEDDED_MODEL, EMBEDDED_MODEL_HUB_ID, embedded_model_dir
from tasks.config import ModelConfig
from tasks.errors import PipelineError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")


class ModelSource(BaseModel):
    """A Hub id or a local directory; ``digest`` changes when a local directory's files do."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["hub", "local", "embedded"]
    location: str
    revision: str | None = None
    digest: str | None = None

    @property
    def hub_id(self) -> str | None:
        """The model's Hub id for card metadata; None for a local directory."""
        return {"hub": self.location, "embedded": EMBEDDED_MODEL_HUB_ID}.get(self.kind)


def check_model_dir(path: Path) -> None:
    if not (path / "config.json").is_file():
        raise PipelineError(f"{path} is not a model directory: it has no config.json")
    if not any((path / name).is_file() for name in WEIGHT_FILES):
        raise PipelineError(f"model directory {path} has no weights: expected one of {', '.join(WEIGHT_FILES)}")


def resolve_model(model: ModelConfig) -> ModelSource:
    if model.model == EMBEDDED_MODEL:
        path, kind = embedded_model_dir(), "embedded"
    else:
        path, kind = Path(model.model).expanduser(), "local"
        if not path.exists():
            if model.model.startswith(("/", ".", "~")):
                raise PipelineError(f"model directory not found: {model.model}")
            return ModelSource(kind="hub", location=model.model, revision=model.model_revision)
    path = path.resolve()
    check_model_dir(path)
    files = [file for file in path.iterdir() if file.is_file() and file.name != "README.md"]
    return ModelSource(kind=kind, location=str(path), digest=hash_files(files))


def load_tokenizer(source: ModelSource | str) -> "PreTrainedTokenizerBase":
    """The model's tokenizer; word-to-token alignment needs a fast one."""
    from transformers import AutoTokenizer  # heavy: imported where used, so cached runs start fast

    location = source if isinstance(source, str) else source.location
    revision = None if isinstance(source, str) else source.revision
    try:
        tokenizer = AutoTokenizer.from_pretrained(location, revision=revision)
    except OSError as error:  # what transformers raises for an unknown repo or an unreadable directory
        raise PipelineError(f"cannot load the tokenizer of {location}: {error}") from error
    if not tokenizer.is_fast:
        raise PipelineError(
            f"the tokenizer of {location} ({type(tokenizer).__name__}) is not a fast tokenizer; label alignment "
            "needs word ids, which only fast (Rust-backed) tokenizers provide"
        )
    return tokenizer

"""The pretrained model a run starts from: resolved once, before any step runs."""

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict

from tasks.config.sections import ModelConfig
from tasks.data.assets import EMBEDDED_MODEL, EMBEDDED_MODEL_HUB_ID, embedded_model_dir
from tasks.errors import PipelineError, first_line
from tasks.storage.catalog import CARD
from tasks.storage.files import hash_files
from tasks.weights import check_weights

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

SAFE_WEIGHTS = ("model.safetensors", "model.safetensors.index.json")
# Pickles: loading one can run any code it holds.
PICKLE_WEIGHTS = ("pytorch_model.bin", "pytorch_model.bin.index.json")
WEIGHT_FILES = SAFE_WEIGHTS + PICKLE_WEIGHTS


class ModelSource(BaseModel):
    """A Hub id or a local directory; ``digest`` changes when a local directory's files do."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["hub", "local", "embedded"]
    location: str
    revision: str | None = None
    digest: str | None = None
    pickle_weights: bool = False  # its weights are a pickle, loaded because --allow-pickle-weights said so

    @property
    def hub_id(self) -> str | None:
        """The model's Hub id for card metadata; None for a local directory."""
        return {"hub": self.location, "embedded": EMBEDDED_MODEL_HUB_ID}.get(self.kind)


def check_model_dir(path: Path) -> None:
    if not (path / "config.json").is_file():
        raise PipelineError(f"{path} is not a model directory: it has no config.json")
    if not any((path / name).is_file() for name in WEIGHT_FILES):
        raise PipelineError(f"model directory {path} has no weights: expected one of {', '.join(WEIGHT_FILES)}")


def pickle_only(files: list[str]) -> bool:
    """Whether a model's weights are pickles alone, with no safetensors copy."""
    return not any(name in files for name in SAFE_WEIGHTS) and any(name in files for name in PICKLE_WEIGHTS)


def refuse_pickle(model: str) -> PipelineError:
    return PipelineError(
        f"{model} has its weights only as a pickle (pytorch_model.bin), which can run any code it holds when it "
        "loads: use a model with model.safetensors, or pass --allow-pickle-weights to load it anyway (the card "
        "then says so)"
    )


def _hub_files(model: ModelConfig) -> list[str]:
    """The files of a Hub model, listed with the push's client (HF_ENDPOINT, HF_TOKEN)."""
    from huggingface_hub.errors import HfHubHTTPError

    from tasks.hub import hub_api

    api = hub_api(None)
    try:
        return api.list_repo_files(model.model, revision=model.model_revision)
    except (HfHubHTTPError, OSError) as error:
        raise PipelineError(
            f"cannot list the files of model {model.model} on {api.endpoint}: {first_line(error)}"
        ) from error


def resolve_model(model: ModelConfig) -> ModelSource:
    """The model a run starts from; one whose weights are only a pickle is refused unless allowed."""
    if model.model == EMBEDDED_MODEL:
        path, kind = embedded_model_dir(), "embedded"
    else:
        path, kind = Path(model.model).expanduser(), "local"
        if not path.exists():
            if model.model.startswith(("/", ".", "~")):
                raise PipelineError(f"model directory not found: {model.model}")
            return _checked(
                model, ModelSource(kind="hub", location=model.model, revision=model.model_revision), _hub_files(model)
            )
    path = path.resolve()
    check_model_dir(path)
    check_weights(path)
    files = [file for file in path.iterdir() if file.is_file() and file.name != CARD]
    source = ModelSource(kind=kind, location=str(path), digest=hash_files(files))
    return _checked(model, source, [file.name for file in files])


def _checked(model: ModelConfig, source: ModelSource, files: list[str]) -> ModelSource:
    if not pickle_only(files):
        return source
    if not model.allow_pickle_weights:
        raise refuse_pickle(model.model)
    return source.model_copy(update={"pickle_weights": True})


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


def hidden_size(source: ModelSource | str) -> int:
    """The width of the model's encoder, from its configuration (transformers maps each architecture's own name
    for it, such as DistilBERT's ``dim``): what its fine-tuning recipe depends on (`tasks.config.recipe`)."""
    from transformers import AutoConfig  # heavy: imported where used, so cached runs start fast

    location = source if isinstance(source, str) else source.location
    revision = None if isinstance(source, str) else source.revision
    try:
        return AutoConfig.from_pretrained(location, revision=revision).hidden_size
    except (OSError, AttributeError) as error:  # an unreadable configuration, or one without a hidden size
        raise PipelineError(
            f"cannot tell the size of {location} for its learning rate ({first_line(error)}): pass --learning-rate "
            "and --warmup-ratio"
        ) from error

"""A run's YAML file (``--config``): its keys are the options' names, ``none`` unsets as on the command line."""

import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from tasks.config.finetune import FinetuneConfig
from tasks.errors import PipelineError


def unset_words(values: dict[str, Any], config: type[BaseModel] = FinetuneConfig) -> dict[str, Any]:
    """``none`` in a config file means what it means on the command line: unset, for the options that
    can be (YAML's own ``null`` or ``~`` work too)."""
    fields = config.model_fields
    unsettable = {name for name, field in fields.items() if type(None) in typing.get_args(field.annotation)}
    return {
        name: None if name in unsettable and isinstance(value, str) and value.lower() == "none" else value
        for name, value in values.items()
    }


def load_config_file(path: Path, config: type[BaseModel] = FinetuneConfig) -> dict[str, Any]:
    try:
        values = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except OSError as error:
        raise PipelineError(f"cannot read config file {path}: {error.strerror}") from error
    except UnicodeDecodeError as error:
        raise PipelineError(f"config file {path} is not UTF-8 text: {error.reason} at byte {error.start}") from error
    except yaml.YAMLError as error:
        raise PipelineError(f"config file {path} is not valid YAML: {error}") from error
    if not isinstance(values, dict):
        raise PipelineError(f"config file {path} must be a mapping of option names to values")
    return unset_words({str(key).replace("-", "_"): value for key, value in values.items()}, config)

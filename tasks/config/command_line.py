"""A flow's command line: an option per config field, grouped by section, over the --config file; a wrong
option or value is one line (`tasks.errors.PipelineError`), and --help answers before the heavy imports."""

import argparse
import sys
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from tasks.config.file import load_config_file
from tasks.config.finetune import FinetuneConfig, GateConfig, HubConfig, RunConfig
from tasks.config.sections import DataConfig, ExportConfig, ModelConfig, TokenizationConfig
from tasks.config.training import TrainingConfig
from tasks.errors import PipelineError


def _option_type(annotation: Any) -> tuple[Any, tuple[str, ...] | None]:
    """The argparse converter and choices for a field's annotation."""
    args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
    if typing.get_origin(annotation) is list:
        return args[0], None
    if typing.get_origin(annotation) is Literal:
        return str, tuple(args)
    words = [arg for arg in args if typing.get_origin(arg) is Literal]
    if words and len(words) < len(args):  # a number or a word, such as learning_rate's auto
        number, _ = _option_type(next(arg for arg in args if arg not in words))
        named = {word for literal in words for word in typing.get_args(literal)}

        def number_or_word(text: str):
            return text if text in named else number(text)

        number_or_word.__name__ = f"{number.__name__} or {'/'.join(sorted(named))}"  # argparse's "invalid ... value"
        return number_or_word, None
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        converter, choices = _option_type(args[0])
        if choices:  # a choice, "none" included, is a value (class_weights' mapping comes from --config)
            return converter, choices
        return (lambda text: None if text.lower() == "none" else converter(text)), choices
    return annotation, None


_SECTIONS = {
    "run": RunConfig,
    "quality gate": GateConfig,
    "hub": HubConfig,
    "data": DataConfig,
    "model": ModelConfig,
    "tokenization": TokenizationConfig,
    "training": TrainingConfig,
    "export": ExportConfig,
}


def _add_option(group: argparse._ArgumentGroup, name: str, field: Any) -> None:
    dashed = f"--{name.replace('_', '-')}"
    # argparse formats help with %: a literal one (3.6 %) is written %%, in the help only, not in the UI form.
    default = "required" if field.is_required() else f"default: {'none' if field.default is None else field.default}"
    help_text = f"{field.description} ({default})".replace("%", "%%")
    if field.annotation is bool:
        group.add_argument(dashed, dest=name, action=argparse.BooleanOptionalAction, help=help_text)
        return
    converter, choices = _option_type(field.annotation)
    flags = [dashed, f"--{name}"] if "_" in name else [dashed]
    many = any(typing.get_origin(kind) is list for kind in (field.annotation, *typing.get_args(field.annotation)))
    group.add_argument(*flags, dest=name, type=converter, choices=choices, nargs="+" if many else None, help=help_text)


def options_parser(prog: str, description: str, sections: dict[str, type[BaseModel]]) -> argparse.ArgumentParser:
    """A flow's command line: --config, --summary-json, and an option per field of each section, grouped."""
    parser = argparse.ArgumentParser(prog=prog, description=description, argument_default=argparse.SUPPRESS)
    parser.add_argument("--config", type=Path, help="YAML file whose keys are these options' names.")
    parser.add_argument("--summary-json", type=Path, help="Also write the run's summary to this JSON file.")
    seen: set[str] = set()
    for title, section in sections.items():
        group = parser.add_argument_group(f"{title} options")
        for name, field in section.model_fields.items():
            if name not in seen:
                seen.add(name)
                _add_option(group, name, field)
    return parser


def build_parser() -> argparse.ArgumentParser:
    return options_parser(
        "python -m flows.finetune",
        "Fine-tune a pretrained encoder as a cached Prefect flow: load, tokenize, train, evaluate, check, write the "
        "model card, push. Options override --config; both override defaults.",
        _SECTIONS,
    )


def _format_validation_error(error: ValidationError, origin: str) -> str:
    problems = [f"{'.'.join(map(str, item['loc'])) or 'config'}: {item['msg']}" for item in error.errors()]
    return f"invalid configuration ({origin}): " + "; ".join(problems)


ParsedConfig = TypeVar("ParsedConfig", bound=BaseModel)


def exit_on_bad_command_line(argv: list[str], parse: Callable[[list[str]], Any] | None = None) -> None:
    """Answer --help, or stop with the reason an option or the config file is wrong, as main() would."""
    try:
        (parse or parse_command_line)(argv)
    except PipelineError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


def parse_options(
    argv: list[str] | None, parser: argparse.ArgumentParser, config: type[ParsedConfig]
) -> tuple[ParsedConfig, Path | None]:
    """A run's config (defaults, then the --config file, then options; validated once) and where to write
    the summary, if anywhere."""
    options = vars(parser.parse_args(argv))
    config_file = options.pop("config", None)
    summary_json = options.pop("summary_json", None)
    values = load_config_file(config_file, config) if config_file else {}
    values.update(options)
    try:
        return config.model_validate(values), summary_json
    except ValidationError as error:
        raise PipelineError(_format_validation_error(error, str(config_file or "command line"))) from error


def parse_command_line(argv: list[str] | None = None) -> tuple[FinetuneConfig, Path | None]:
    """The finetune flow's config and where to write its summary (`parse_options`)."""
    return parse_options(argv, build_parser(), FinetuneConfig)

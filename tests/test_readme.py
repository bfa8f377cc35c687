"""What the README shows a user to type: every YAML config and every `python3 -m flows.finetune`
command in it parses into a valid config, every config file in configs/ too, and every script it
names exists."""

import re
import shlex
from pathlib import Path

import pytest

from tasks.config import parse_command_line
from tasks.sweep import load_sweep_file

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
COMMAND = re.compile(r"python3 -m flows\.finetune(?P<options>[^`#\n]*)")


def yaml_blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", README, flags=re.DOTALL)


def finetune_commands() -> list[str]:
    return [match["options"].strip() for match in COMMAND.finditer(README)]


def test_the_readme_shows_configs_and_commands():
    assert yaml_blocks() and len(finetune_commands()) >= 5


@pytest.mark.parametrize("block", yaml_blocks())
def test_every_yaml_config_in_the_readme_parses(block, tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(block, encoding="utf-8")
    if block.startswith("base:"):  # a sweep file
        load_sweep_file(path)
        return
    config, _ = parse_command_line(["--config", str(path)])
    for line in block.splitlines():
        key, _, value = line.partition("#")[0].partition(":")
        if key.strip():
            shown = getattr(config, key.strip())
            assert shown is None if value.strip() == "none" else shown is not None, line


@pytest.mark.parametrize("options", finetune_commands())
def test_every_finetune_command_in_the_readme_parses(options):
    arguments = shlex.split(options.replace("…", "x"))
    if arguments == ["--help"]:
        with pytest.raises(SystemExit) as exit_:
            parse_command_line(arguments)
        assert exit_.value.code == 0
    else:
        parse_command_line(arguments)


def test_every_script_the_readme_names_exists():
    scripts = set(re.findall(r"python3 (benchmarks/\w+\.py)", README)) | set(re.findall(r"(deployments/\w+\.sh)", README))
    assert scripts and [script for script in scripts if not (ROOT / script).is_file()] == []


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.yaml")), ids=lambda path: path.name)
def test_every_config_file_parses_and_the_readme_shows_how_to_run_it(path):
    parse_command_line(["--config", str(path)])
    assert f"python3 -m flows.finetune --config configs/{path.name}" in README


@pytest.mark.parametrize("path", sorted((ROOT / "configs" / "sweeps").glob("*.yaml")), ids=lambda path: path.name)
def test_every_sweep_file_parses_and_the_readme_shows_how_to_run_it(path):
    load_sweep_file(path)
    assert f"python3 -m flows.sweep --config configs/sweeps/{path.name}" in README

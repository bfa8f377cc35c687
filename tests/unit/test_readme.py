"""What the README and the pages in docs/ show a user to type: every YAML config and every
`python3 -m flows.finetune`, `flows.predict` and `flows.prune` command in them parses into a valid config, every config file in
configs/ is shown with its run command, every script they name exists, and every relative link
between them leads to an existing file and, with an #anchor, to one of its headings."""

import re
import shlex
from pathlib import Path

import pytest

from conftest import REPO
from tasks.config.command_line import parse_command_line
from tasks.sweep import load_sweep_file

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
TEXTS = {page: page.read_text(encoding="utf-8") for page in PAGES}
ALL_TEXT = "\n".join(TEXTS.values())
COMMAND = re.compile(r"python3 -m flows\.finetune(?P<options>[^`#\n]*)")
PREDICT_COMMAND = re.compile(r"python3? -m flows\.predict(?P<options>[^`#\n]*)")
PRUNE_COMMAND = re.compile(r"python3? -m flows\.prune(?P<options>[^`#\n]*)")
FENCE = re.compile(r"^\s*```.*?^\s*```", flags=re.DOTALL | re.MULTILINE)
LINK = re.compile(r"\[[^\]]*\]\((?P<target>[^)\s]+)\)")


def name(page: Path) -> str:
    return str(page.relative_to(REPO))


def yaml_blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", ALL_TEXT, flags=re.DOTALL)


def finetune_commands() -> list[str]:
    return [match["options"].strip() for match in COMMAND.finditer(ALL_TEXT)]


def prose(text: str) -> str:
    """The text without code blocks and inline code, where `[x](y)` or `# x` is not markdown."""
    return re.sub(r"`[^`\n]*`", "", FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation other than - and _ dropped, spaces to -."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """The anchors of a page's headings; a repeated heading gets -1, -2, ... as on GitHub."""
    found, count = set(), {}
    for heading in re.findall(r"^#{1,6} +(.+?) *#*$", FENCE.sub("", text), flags=re.MULTILINE):
        base = slug(heading)
        found.add(f"{base}-{count[base]}" if base in count else base)
        count[base] = count.get(base, 0) + 1
    return found


def relative_links() -> list[tuple[Path, str]]:
    return [
        (page, match["target"])
        for page, text in TEXTS.items()
        for match in LINK.finditer(prose(text))
        if not re.match(r"[a-z][a-z0-9+.-]*:", match["target"])  # https:, mailto:
    ]


def test_the_readme_and_docs_show_configs_and_commands():
    assert yaml_blocks() and len(finetune_commands()) >= 5 and PREDICT_COMMAND.search(ALL_TEXT)
    assert len(PAGES) > 1 and relative_links()


@pytest.mark.parametrize("block", yaml_blocks())
def test_every_yaml_config_shown_parses(block, tmp_path):
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


def shown_commands() -> list[tuple[str, str]]:
    """Each ``python3 -m flows.finetune``, ``flows.predict`` and ``flows.prune`` command shown: the flow and its options."""
    return [("finetune", options) for options in finetune_commands()] + [
        (flow, match["options"].strip())
        for flow, command in (("predict", PREDICT_COMMAND), ("prune", PRUNE_COMMAND))
        for match in command.finditer(ALL_TEXT)
    ]


@pytest.mark.parametrize(("flow", "options"), shown_commands())
def test_every_command_shown_parses(flow, options):
    from flows.prune import parse_command_line as parse_prune_command_line
    from tasks.config.prediction import parse_command_line as parse_predict_command_line

    parse = {"finetune": parse_command_line, "predict": parse_predict_command_line, "prune": parse_prune_command_line}[
        flow
    ]
    arguments = shlex.split(options.replace("…", "x"))
    if arguments == ["--help"]:
        with pytest.raises(SystemExit) as exit_:
            parse(arguments)
        assert exit_.value.code == 0
    else:
        parse(arguments)


def test_every_script_named_exists():
    scripts = set(re.findall(r"python3 (benchmarks/\w+\.py)|(deployments/\w+\.sh)", ALL_TEXT))
    scripts = {benchmark or deployment for benchmark, deployment in scripts}
    assert scripts and [script for script in scripts if not (REPO / script).is_file()] == []


@pytest.mark.parametrize("path", sorted((REPO / "configs").glob("*.yaml")), ids=lambda path: path.name)
def test_every_config_file_parses_and_the_docs_show_how_to_run_it(path):
    parse_command_line(["--config", str(path)])
    assert f"python3 -m flows.finetune --config configs/{path.name}" in ALL_TEXT


@pytest.mark.parametrize("path", sorted((REPO / "configs" / "sweeps").glob("*.yaml")), ids=lambda path: path.name)
def test_every_sweep_file_parses_and_the_docs_show_how_to_run_it(path):
    load_sweep_file(path)
    assert f"python3 -m flows.sweep --config configs/sweeps/{path.name}" in ALL_TEXT


@pytest.mark.parametrize(("page", "target"), relative_links(), ids=lambda value: getattr(value, "name", value))
def test_every_relative_link_leads_to_a_file_and_heading(page, target):
    path, _, anchor = target.partition("#")
    linked = (page.parent / path).resolve() if path else page
    assert linked.exists(), f"{name(page)}: {target} does not exist"
    if anchor:
        headings = anchors(linked.read_text(encoding="utf-8"))
        assert anchor in headings, f"{name(page)}: no heading #{anchor} in {path or name(page)}"


def test_a_heading_slug_is_the_one_github_makes():
    assert slug("Users' data: long inputs, tag schemes") == "users-data-long-inputs-tag-schemes"
    assert slug("Checkpoints and `--resume`") == "checkpoints-and---resume"
    assert anchors("## Tests\n```\n# not a heading\n```\n## Tests\n") == {"tests", "tests-1"}

"""The shape of the code a newcomer reads: every module on the layout page, command lines that import no
flow, scripts that exist."""

import re
import subprocess
import sys
from pathlib import Path

from conftest import REPO

OUR_CODE = sorted(path for folder in ("flows", "tasks") for path in (REPO / folder).rglob("*.py"))


def named_in_layout(module: Path, layout: str) -> bool:
    """A module is named in docs/layout.md by its path; a task profile's by its generic path or file name in the
    profiles' section; a package's ``__init__.py`` also by a line that starts with its folder."""
    path = str(module.relative_to(REPO))
    generic = re.sub(r"^tasks/profiles/\w+/", "tasks/profiles/<task>/", path)
    profiles = layout.partition("## Task profiles")[2].partition("\n## ")[0]
    as_profile_part = generic != path and re.search(rf"\b{re.escape(module.name)}\b", profiles) is not None
    as_folder = module.name == "__init__.py" and re.search(rf"^{re.escape(generic[: -len('__init__.py')])}\s", layout, re.M)
    return path in layout or generic in layout or as_profile_part or bool(as_folder)


def test_the_layout_page_names_every_module():
    layout = (REPO / "docs" / "layout.md").read_text(encoding="utf-8")
    assert len(OUR_CODE) > 60
    assert [str(module.relative_to(REPO)) for module in OUR_CODE if not named_in_layout(module, layout)] == []


def test_every_script_of_the_package_names_a_function_that_exists():
    import importlib
    import tomllib

    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    for name, target in scripts.items():
        module, _, function = target.partition(":")
        assert callable(getattr(importlib.import_module(module), function, None)), f"script {name}: {target} is not a function"


def test_the_command_lines_shared_module_imports_no_flow():
    """Otherwise ``python -m flows.finetune`` loads its file twice: as __main__, then as the module cli imports."""
    code = "import sys, flows.cli; print(sorted(name for name in sys.modules if name in ('flows.finetune', 'flows.sweep', 'flows.predict')))"
    finished = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert finished.stdout.strip() == "[]"

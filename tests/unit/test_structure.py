"""The shape of the code a newcomer reads: every module on the layout page, one catalog of artifact files, a
training process without Prefect, command lines that import no flow, scripts that exist."""

import ast
import re
import subprocess
import sys
from pathlib import Path

from conftest import REPO
from tasks.storage import catalog

OUR_CODE = sorted(path for folder in ("flows", "tasks") for path in (REPO / folder).rglob("*.py"))


def named_in_layout(module: Path, layout: str) -> bool:
    """A module is named in docs/layout.md by its path; a task profile's by its generic path or file name in the
    profiles' section; a package's ``__init__.py`` also by a line that starts with its folder."""
    path = str(module.relative_to(REPO))
    generic = re.sub(r"^tasks/profiles/\w+/", "tasks/profiles/<task>/", path)
    profiles = layout.partition("## Task profiles")[2].partition("\n## ")[0]
    as_profile_part = generic != path and re.search(rf"\b{re.escape(module.name)}\b", profiles) is not None
    as_folder = module.name == "__init__.py" and re.search(
        rf"^{re.escape(generic[: -len('__init__.py')])}\s", layout, re.M
    )
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
        assert callable(getattr(importlib.import_module(module), function, None)), (
            f"script {name}: {target} is not a function"
        )


def test_the_command_lines_shared_module_imports_no_flow():
    """Otherwise ``python -m flows.finetune`` loads its file twice: as __main__, then as the module cli imports."""
    code = "import sys, flows.cli; print(sorted(name for name in sys.modules if name in ('flows.finetune', 'flows.sweep', 'flows.predict')))"
    finished = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert finished.stdout.strip() == "[]"


def catalog_names() -> set[str]:
    """Every name the catalog holds: its constants, and the names in its tuples."""
    values = [value for name, value in vars(catalog).items() if name.isupper()]
    return {value for value in values if isinstance(value, str)} | {
        item for value in values if isinstance(value, tuple) for item in value if isinstance(item, str)
    }


def catalog_file_names() -> set[str]:
    """Every name of an artifact's file the catalog holds (a name with a dot: folders are plain words)."""
    return {name for name in catalog_names() if "." in name}


def test_no_module_but_the_catalog_spells_an_artifact_file_name():
    names, spelled = catalog_file_names(), []
    assert {"metrics.json", "README.md", "label_issues.jsonl", ".manifest.json"} <= names
    for path in OUR_CODE:
        if path == REPO / "tasks" / "storage" / "catalog.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in names:
                spelled.append(f"{path.relative_to(REPO)}:{node.lineno}: {node.value}")
    assert spelled == []


def test_every_step_folder_lists_only_names_of_the_catalog():
    named = catalog_names()
    for folder, files in catalog.STEP_FILES.items():
        assert set(files) <= named, folder
    assert catalog.STEP_FOLDERS[:4] == ("dataset", "data_report", "label_issues", "tokenized")


def test_the_training_process_imports_neither_prefect_nor_the_flows():
    """What ``python -m tasks.engines`` imports (under torchrun): it should start in the time torch takes."""
    code = (
        "import sys, tasks.engines.__main__, tasks.engines.trainer, tasks.engines.accelerate_loop; "
        "print(sorted({name.split('.')[0] for name in sys.modules} & {'prefect', 'flows'}))"
    )
    finished = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert finished.stdout.strip() == "[]"


def test_each_step_is_its_module_and_its_function_and_writes_the_folder_the_catalog_gives_it():
    """tasks/steps/load.py holds the step ``load``, logged as load, writing dataset/: one word per step."""
    import importlib

    from prefect import Task

    modules = sorted(path.stem for path in (REPO / "tasks" / "steps").glob("*.py") if path.stem != "__init__")
    assert modules == sorted(catalog.FOLDERS)
    for name in modules:
        step = getattr(importlib.import_module(f"tasks.steps.{name}"), name)
        assert isinstance(step, Task) and step.name == name
    assert set(catalog.FOLDERS.values()) == set(catalog.STEP_FOLDERS)


def test_no_module_of_ours_is_longer_than_a_reader_takes_in_at_once():
    lengths = {str(path.relative_to(REPO)): len(path.read_text(encoding="utf-8").splitlines()) for path in OUR_CODE}
    assert {path: lines for path, lines in lengths.items() if lines > 400} == {}

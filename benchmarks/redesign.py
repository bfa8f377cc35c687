"""Benchmark the code as a reader meets it, and what it costs to run, at two commits side by side.

    python benchmarks/redesign.py [--before d7ee928] [--after HEAD] [--no-suite] [--output FILE]

Each commit is checked out clean (a git worktree) and run with its own code first on PYTHONPATH, one after the
other on this machine:

- shape: files and lines of flows/ and tasks/, the longest module and function, the ``# fmt: skip`` markers,
  the modules (but the catalog) that spell the name of an artifact's file (the names of today's catalog), and
  the modules of ours loaded in a training process (``python -m tasks.engines``) that import Prefect;
- path: our functions, and their files, on the call stack from ``python -m flows.finetune`` to the training
  loop (transformers' ``Trainer.train``, which the train step calls in the run's own process), on a tiny job;
- time: the default run, cold (wall seconds and test F1), and the test suite (``python -m pytest``: the
  README's test command, wall seconds).

The before commit defaults to the last one before the redesign (issue 38) began.
"""

import argparse
import ast
import json
import os
import runpy
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from default_run import REPO, run_env, timed_run
from predict import cpu_name

BEFORE = "d7ee928"
CATALOG = REPO / "tasks" / "storage" / "catalog.py"
# Stops the run where training starts and writes the stack that led there (our frames only) to STACK_FILE.
STACK_PROBE = """
import json, os, sys, traceback
import transformers

def probe(self, *args, **kwargs):
    root = os.environ["CHECKOUT"]
    frames = [f for f in traceback.extract_stack() if f.filename.startswith(root) and f.name != "<module>"]
    with open(os.environ["STACK_FILE"], "w") as out:
        json.dump([[os.path.relpath(f.filename, root), f.name] for f in frames], out)
    os._exit(0)

transformers.Trainer.train = probe
sys.argv = ["flows.finetune", *sys.argv[1:]]
import runpy
runpy.run_module("flows.finetune", run_name="__main__", alter_sys=True)
"""
TRAINING_PROCESS = (
    "import sys, tasks.engines.__main__, tasks.engines.trainer, tasks.engines.accelerate_loop; "
    "print('\\n'.join(sorted(name for name in sys.modules if name.split('.')[0] in ('tasks', 'prefect'))))"
)


def artifact_file_names() -> set[str]:
    """The names of artifacts' files in today's catalog (a name with a dot: folders are plain words)."""
    values = [value for name, value in runpy.run_path(str(CATALOG)).items() if name.isupper()]
    names = {value for value in values if isinstance(value, str)}
    names |= {item for value in values if isinstance(value, tuple) for item in value if isinstance(item, str)}
    return {name for name in names if "." in name}


def shape(checkout: Path) -> dict:
    modules = sorted(path for folder in ("flows", "tasks") for path in (checkout / folder).rglob("*.py"))
    texts = {path: path.read_text(encoding="utf-8") for path in modules}
    lengths = {str(path.relative_to(checkout)): len(text.splitlines()) for path, text in texts.items()}
    functions = {
        f"{path.relative_to(checkout)}:{node.name}": node.end_lineno - node.lineno + 1
        for path, text in texts.items()
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }
    names = artifact_file_names()
    spelling = sorted(
        str(path.relative_to(checkout))
        for path, text in texts.items()
        if path.name != "catalog.py"
        and any(isinstance(node, ast.Constant) and node.value in names for node in ast.walk(ast.parse(text)))
    )
    longest_module, longest_function = max(lengths, key=lengths.get), max(functions, key=functions.get)
    return {
        "files": len(modules),
        "lines": sum(lengths.values()),
        "longest_module": {"path": longest_module, "lines": lengths[longest_module]},
        "longest_function": {"name": longest_function, "lines": functions[longest_function]},
        "modules_over_400_lines": sorted(path for path, lines in lengths.items() if lines > 400),
        "fmt_skip": sum(text.count("# fmt: skip") for text in texts.values()),
        "modules_naming_artifact_files": spelling,
        "training_process_modules_importing_prefect": training_process_prefect(checkout),
    }


def training_process_prefect(checkout: Path) -> dict:
    """Whether a training process loads Prefect, and the modules of ours it loads that import Prefect when
    loaded (an import at the top of the module; one inside a function runs only when called)."""
    loaded = subprocess.run(
        [sys.executable, "-c", TRAINING_PROCESS], cwd=checkout, env=code_env(checkout), capture_output=True, text=True
    ).stdout.split()
    ours = []
    for module in (name for name in loaded if name.startswith("tasks")):
        path = checkout.joinpath(*module.split("."))
        file = path.with_suffix(".py") if path.with_suffix(".py").is_file() else path / "__init__.py"
        imports = [
            node
            for node in ast.parse(file.read_text(encoding="utf-8")).body
            if isinstance(node, ast.Import | ast.ImportFrom)
        ]
        named = [alias.name for node in imports for alias in node.names] + [
            node.module or "" for node in imports if isinstance(node, ast.ImportFrom)
        ]
        if any(name.split(".")[0] == "prefect" for name in named):
            ours.append(module)
    return {"prefect_loaded": "prefect" in loaded, "modules": ours}


def path_to_training(checkout: Path, scratch: Path) -> dict:
    """Our functions and files on the call stack when training starts, from the CLI's entry point."""
    scratch.mkdir(parents=True, exist_ok=True)
    stack_file, probe = scratch / "stack.json", scratch / "probe.py"
    probe.write_text(STACK_PROBE)
    env = {**run_env(scratch / "prefect-home"), **code_env(checkout), "STACK_FILE": str(stack_file)}
    env["CHECKOUT"] = str(checkout) + "/"
    job = ["--max-train-samples", "32", "--max-eval-samples", "32", "--artifacts-dir", str(scratch / "artifacts")]
    subprocess.run([sys.executable, str(probe), *job], cwd=checkout, env=env, check=True, capture_output=True)
    frames = json.loads(stack_file.read_text())
    return {
        "functions": len(frames),
        "files": len({file for file, _ in frames}),
        "stack": [f"{file}:{function}" for file, function in frames],
    }


def code_env(checkout: Path) -> dict[str, str]:
    """This process's environment with the checkout's code first on the path (before the installed copy)."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(checkout), os.environ.get("PYTHONPATH")]))}


def timings(checkout: Path, scratch: Path, suite: bool) -> dict:
    os.environ["PYTHONPATH"] = str(checkout)  # timed_run's process inherits it
    try:
        default = timed_run(
            scratch / "artifacts-default",
            scratch / "hf",
            scratch / "prefect-default",
            scratch / "default.json",
            cwd=checkout,
        )
    finally:
        del os.environ["PYTHONPATH"]
    result = {"default_run": {"wall_seconds": default["wall_seconds"], "test_f1": default["test_f1"]}}
    if suite:
        started = time.perf_counter()
        tests = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-rf", "-p", "no:cacheprovider"],
            cwd=checkout,
            env=code_env(checkout),
            capture_output=True,
            text=True,
        )
        result["suite"] = {
            "wall_seconds": round(time.perf_counter() - started, 1),
            "passed": tests.returncode == 0,
            "last_line": tests.stdout.strip().splitlines()[-1] if tests.stdout.strip() else tests.stderr[-500:],
            "failed": [line.split(" ")[1] for line in tests.stdout.splitlines() if line.startswith("FAILED ")],
        }
    return result


def measure(revision: str, scratch: Path, suite: bool) -> dict:
    checkout = scratch / revision
    subprocess.run(["git", "worktree", "add", "--detach", str(checkout), revision], cwd=REPO, check=True)
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=checkout, capture_output=True, text=True)
        return {
            "commit": commit.stdout.strip(),
            **shape(checkout),
            "path_to_training": path_to_training(checkout, scratch / f"{revision}-path"),
            **timings(checkout, scratch / f"{revision}-time", suite),
        }
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(checkout)], cwd=REPO, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", default=BEFORE, help=f"the commit before (default {BEFORE})")
    parser.add_argument("--after", default="HEAD", help="the commit after (default HEAD)")
    parser.add_argument("--no-suite", dest="suite", action="store_false", help="leave the test suite's time out")
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "results" / "redesign.json")
    args = parser.parse_args()
    results = {"date": time.strftime("%Y-%m-%d"), "machine": f"{os.cpu_count()} cores, {cpu_name()}"}
    with tempfile.TemporaryDirectory(prefix="redesign-") as scratch_name:
        for name, revision in (("before", args.before), ("after", args.after)):
            (Path(scratch_name) / revision).parent.mkdir(parents=True, exist_ok=True)
            results[name] = measure(revision, Path(scratch_name), args.suite)
    before, after = results["before"], results["after"]
    results["after_over_before"] = {
        kind: round(after[kind]["wall_seconds"] / before[kind]["wall_seconds"], 3)
        for kind in ("default_run", "suite")
        if kind in after
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    for name in ("before", "after"):
        figures = results[name]
        print(
            f"{name} ({figures['commit']}): {figures['files']} files, {figures['lines']:,} lines; longest module "
            f"{figures['longest_module']}, function {figures['longest_function']}; fmt: skip {figures['fmt_skip']}; "
            f"{len(figures['modules_naming_artifact_files'])} modules name artifact files; training process: "
            f"{figures['training_process_modules_importing_prefect']}; to training: "
            f"{figures['path_to_training']['functions']} functions in {figures['path_to_training']['files']} files; "
            f"default run {figures['default_run']}; suite {figures.get('suite')}"
        )
    print("after / before:", results["after_over_before"])


if __name__ == "__main__":
    main()

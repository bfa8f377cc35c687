"""Which steps re-run after a one-line edit of a helper: the cache key covers the code a step runs.

    python benchmarks/code_edits.py [--output benchmarks/results/code_edits.json]

Copies `flows/` and `tasks/` into a scratch folder and runs the pipeline from there on a
small job (the embedded MiniLM, 200 training sentences, the embedded CoNLL-2003), then
again after each edit: one line added to `align_labels` (tokenization), then one line added
to `render_card` (the model card). Expected: the first re-runs tokenize and every step after
it; the second re-runs only the release (card) step.
"""

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from default_run import REPO, run_env

JOB = ("--max-train-samples", "200", "--max-eval-samples", "200", "--epochs", "1")
# One harmless line each, inserted after the function's docstring.
EDITS = {
    "align_labels": (
        "tasks/profiles/ner/tokenization.py",
        "    aligned, previous = [], None\n",
        '    assert mode in ("all-subwords", "first-subword")\n',
    ),
    "render_card": ("tasks/reports/model_card.py", "    lines = [\n", "    assert facts.model_name\n"),
}


def run_pipeline(copy: Path, scratch: Path, name: str) -> dict[str, bool]:
    """One CLI run from the copied code; which steps ran (True) or came from their artifact (False)."""
    summary = scratch / f"{name}.json"
    env = run_env(scratch / "prefect-home")
    command = [sys.executable, "-m", "flows.finetune", "--artifacts-dir", str(scratch / "artifacts"), *JOB]
    subprocess.run([*command, "--summary-json", str(summary)], cwd=copy, env=env, check=True)
    return {step["name"]: not step["cached"] for step in json.loads(summary.read_text())["steps"]}


def add_line(copy: Path, function: str) -> None:
    file, anchor, line = EDITS[function]
    path = copy / file
    source = path.read_text()
    start = source.index(f"def {function}(")
    at = source.index(anchor, start)
    path.write_text(source[:at] + line + source[at:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "results" / "code_edits.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="finetune-edits-") as scratch:
        scratch, copy = Path(scratch), Path(scratch) / "repo"
        for package in ("flows", "tasks"):
            shutil.copytree(REPO / package, copy / package, ignore=shutil.ignore_patterns("__pycache__"))
        runs = {"first": run_pipeline(copy, scratch, "first"), "unchanged": run_pipeline(copy, scratch, "unchanged")}
        for function in EDITS:
            add_line(copy, function)
            runs[f"after editing {function}"] = run_pipeline(copy, scratch, function)
    figures = {name: {"ran": [step for step, ran in steps.items() if ran]} for name, steps in runs.items()}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(figures, indent=2) + "\n")
    for name, result in figures.items():
        print(f"{name:<28} {len(result['ran'])} steps ran: {', '.join(result['ran']) or 'none'}")


if __name__ == "__main__":
    main()

"""Training recipes for the default NER job, side by side: test F1 against CPU time.

    python benchmarks/recipes.py [--recipes reference lr-5e-4 ...] [--output benchmarks/results/recipes.json]

Each recipe is today's default run with some options changed, run as its own
`python -m flows.finetune` process on one artifacts directory (so recipes that tokenize
alike share the loaded and tokenized data). Compare figures from one run of this script
only: machines of the same kind differ by up to half in speed.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RECIPES = {
    "reference": ["--max-train-samples", "6000", "--epochs", "1", "--learning-rate", "2e-4", "--batch-size", "16"],
    "lr-5e-4": ["--max-train-samples", "6000", "--epochs", "1", "--learning-rate", "5e-4", "--batch-size", "16"],
    "batch-32-lr-5e-4": ["--max-train-samples", "6000", "--epochs", "1", "--learning-rate", "5e-4", "--batch-size", "32"],
    "8000-batch-32-lr-5e-4": ["--max-train-samples", "8000", "--epochs", "1", "--learning-rate", "5e-4", "--batch-size", "32"],
    "first-subword": [
        "--max-train-samples", "6000", "--epochs", "1", "--learning-rate", "2e-4", "--batch-size", "16",
        "--label-alignment", "first-subword",
    ],
    "first-subword-8000-batch-32-lr-5e-4": [
        "--max-train-samples", "8000", "--epochs", "1", "--learning-rate", "5e-4", "--batch-size", "32",
        "--label-alignment", "first-subword",
    ],
}  # fmt: skip


def run_recipe(name: str, scratch: Path) -> dict:
    summary = scratch / f"{name}.json"
    env = {
        **os.environ, "PREFECT_HOME": str(scratch / "prefect-home"), "HF_HOME": str(scratch / "hf"), "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }  # fmt: skip
    command = [sys.executable, "-m", "flows.finetune", "--artifacts-dir", str(scratch / "artifacts"), *RECIPES[name]]
    started = time.perf_counter()
    subprocess.run([*command, "--summary-json", str(summary)], cwd=REPO, env=env, check=True)
    wall = time.perf_counter() - started
    result = json.loads(summary.read_text())
    steps = {step["name"]: step for step in result["steps"]}
    trained = json.loads((Path(steps["model"]["path"]) / "train_summary.json").read_text())
    evaluated = json.loads((Path(steps["evaluation"]["path"]) / "evaluated_on.json").read_text())
    return {
        "options": " ".join(RECIPES[name]),
        "wall_seconds": round(wall, 1),
        "train_seconds": trained["train_seconds"],
        "evaluation_seconds": round(sum(evaluated["seconds"].values()), 1),
        "train_sentences": trained["num_rows"]["train"],
        "validation_f1": round(result["metrics"]["validation"]["f1"], 4),
        "test_f1": round(result["metrics"]["test"]["f1"], 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipes", nargs="+", choices=sorted(RECIPES), default=list(RECIPES))
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "results" / "recipes.json")
    args = parser.parse_args()
    figures = {}
    with tempfile.TemporaryDirectory(prefix="finetune-recipes-") as scratch:
        for name in args.recipes:
            figures[name] = run_recipe(name, Path(scratch))
            args.output.parent.mkdir(parents=True, exist_ok=True)
            args.output.write_text(json.dumps({"recipes": figures, "cpu_count": os.cpu_count()}, indent=2) + "\n")
    for name, row in figures.items():
        print(
            f"{name:<24} test F1 {row['test_f1']:.4f}  validation F1 {row['validation_f1']:.4f}  train "
            f"{row['train_seconds']:6.1f} s  evaluation {row['evaluation_seconds']:5.1f} s  wall {row['wall_seconds']:6.1f} s"
        )


if __name__ == "__main__":
    main()

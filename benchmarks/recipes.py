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
import tempfile
from pathlib import Path

from default_run import REPO, timed_run, training_figures

RECIPES = {
    "reference": ["--max-train-samples", "6000", "--epochs", "1", "--learning-rate", "2e-4", "--batch-size", "16"],
    "lr-5e-4": ["--max-train-samples", "6000", "--epochs", "1", "--learning-rate", "5e-4", "--batch-size", "16"],
    "batch-32-lr-5e-4": [
        "--max-train-samples",
        "6000",
        "--epochs",
        "1",
        "--learning-rate",
        "5e-4",
        "--batch-size",
        "32",
    ],
    "8000-batch-32-lr-5e-4": [
        "--max-train-samples",
        "8000",
        "--epochs",
        "1",
        "--learning-rate",
        "5e-4",
        "--batch-size",
        "32",
    ],
    "first-subword": [
        "--max-train-samples",
        "6000",
        "--epochs",
        "1",
        "--learning-rate",
        "2e-4",
        "--batch-size",
        "16",
        "--label-alignment",
        "first-subword",
    ],
    "first-subword-8000-batch-32-lr-5e-4": [
        "--max-train-samples",
        "8000",
        "--epochs",
        "1",
        "--learning-rate",
        "5e-4",
        "--batch-size",
        "32",
        "--label-alignment",
        "first-subword",
    ],
}


def run_recipe(name: str, scratch: Path) -> dict:
    summary = scratch / f"{name}.json"
    run = timed_run(scratch / "artifacts", scratch / "hf", scratch / "prefect-home", summary, *RECIPES[name])
    return {
        "options": " ".join(RECIPES[name]),
        "wall_seconds": run["wall_seconds"],
        "peak_rss_mib": run["peak_rss_mib"],
        **training_figures(summary),
        "validation_f1": run["validation_f1"],
        "test_f1": run["test_f1"],
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

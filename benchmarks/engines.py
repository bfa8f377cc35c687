"""Benchmark the two training engines on the default NER slice: the Trainer and the Accelerate
loop, same data, hyper-parameters and seeds, each as its own `python -m flows.finetune` process.

    python benchmarks/engines.py [--seeds 42 43] [--output benchmarks/results/engines.json]

The runs share one artifacts directory, so load and tokenize run once per seed and the train
step's time compares the engines. Several seeds show how far scores move with the seed alone,
the noise the engines' difference is measured against. Prints and writes train and evaluation
time, peak RSS and validation and test F1 per run, and the mean test F1 of each engine.
"""

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from default_run import REPO, timed_run

ENGINES = ("trainer", "accelerate")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 43])
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "results" / "engines.json")
    args = parser.parse_args()
    runs = []
    with tempfile.TemporaryDirectory(prefix="finetune-bench-") as scratch:
        scratch = Path(scratch)
        for seed in args.seeds:
            for engine in ENGINES:
                summary = scratch / f"{engine}-{seed}.json"
                figures = timed_run(
                    scratch / "artifacts",
                    scratch / "hf",
                    scratch / "prefect-home",
                    summary,
                    "--engine",
                    engine,
                    "--seed",
                    str(seed),
                )
                runs.append(
                    {"engine": engine, "seed": seed, "train_seconds": figures["steps"]["model"]["seconds"], **figures}
                )
    mean_test_f1 = {
        engine: round(statistics.mean(run["test_f1"] for run in runs if run["engine"] == engine), 4)
        for engine in ENGINES
    }
    figures = {"runs": runs, "mean_test_f1": mean_test_f1}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    for run in runs:
        print(
            f"{run['engine']:<10} seed {run['seed']}: train {run['train_seconds']} s, "
            f"validation F1 {run['validation_f1']}, test F1 {run['test_f1']}, peak RSS {run['peak_rss_mib']} MiB"
        )
    print("mean test F1: " + ", ".join(f"{engine} {f1}" for engine, f1 in mean_test_f1.items()))


if __name__ == "__main__":
    main()

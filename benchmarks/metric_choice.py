"""Benchmark what --metric changes on two classes whose label 1 is the majority, each run a fresh
`python -m flows.finetune` process.

    python benchmarks/metric_choice.py [--output benchmarks/results/metric_choice.json]

The data: CoNLL-2003 sentences of five words or more labelled by whether they name a person, 95 / 5
(`users_data.person_folder`), with the common class named ``without-person`` so that it sorts after
``person`` and is label 1, as ``normal`` is for ``alert``/``normal``. Two runs, identical but for the
metric: the default ``f1`` (label 1's F1, the majority's) and ``f1:person``, each two epochs with two
validation passes an epoch, so that the metric picks the checkpoint kept. It reports the rare class's
test F1 of the model each metric kept, which pass it kept, and the log line that names the majority.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from default_run import REPO, run_env, step_dirs
from users_data import COMMON_LABEL, RARE_LABEL, person_folder

MAJORITY_LABEL = "without-person"  # sorts after "person": label id 1
OPTIONS = [
    "--task",
    "sequence-classification",
    "--max-train-samples",
    "none",
    "--epochs",
    "2",
    "--evals-per-epoch",
    "2",
]


def majority_second(scratch: Path) -> Path:
    """`person_folder` with its common class renamed to sort after the rare one."""
    folder = person_folder(scratch)
    for path in folder.glob("*.jsonl"):
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        for row in rows:
            row["label"] = MAJORITY_LABEL if row["label"] == COMMON_LABEL else row["label"]
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return folder


def judged_run(scratch: Path, folder: Path, metric: str) -> dict:
    """One run judged by ``metric``: the kept pass, the test scores of its model, the log's metric warning."""
    name = metric.replace(":", "-")
    summary = scratch / f"{name}.json"
    command = [
        sys.executable,
        "-m",
        "flows.finetune",
        "--artifacts-dir",
        str(scratch / name),
        "--summary-json",
        str(summary),
        "--dataset",
        str(folder),
        "--metric",
        metric,
        *OPTIONS,
    ]
    env = run_env(scratch / name / "prefect-home", scratch / "hf")
    finished = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    if finished.returncode:
        raise SystemExit(f"the run judged by {metric} failed:\n{finished.stderr[-3000:]}")
    result, steps = json.loads(summary.read_text()), step_dirs(summary)
    trained = json.loads((steps["train"] / "train_summary.json").read_text())
    test = result["metrics"]["test"]
    return {
        "metric": metric,
        "kept": {"epoch": trained["best_epoch"], "step": trained["best_step"], **trained["best_metric"]},
        "test_rare_class_f1": round(test["per_class"][RARE_LABEL]["f1"], 4),
        "test_majority_f1": round(test["per_class"][MAJORITY_LABEL]["f1"], 4),
        "test_macro_f1": round(test["macro_f1"], 4),
        "test_accuracy": round(test["accuracy"], 4),
        "metric_warnings": [
            line.split("Metric: ", 1)[1] for line in finished.stderr.splitlines() if "Metric: " in line
        ],
        "train_seconds": trained["train_seconds"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "results" / "metric_choice.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="finetune-metric-") as scratch:
        scratch = Path(scratch)
        folder = majority_second(scratch)
        runs = {metric: judged_run(scratch, folder, metric) for metric in ("f1", f"f1:{RARE_LABEL}")}
    figures = {
        "data": "CoNLL-2003 sentences naming a person (5 %) or not (95 %), 3,000 / 500 / 1,800",
        "runs": runs,
        "cpu_count": os.cpu_count(),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    for metric, run in runs.items():
        print(
            f"--metric {metric}: kept epoch {run['kept']['epoch']}, test F1 of {RARE_LABEL} {run['test_rare_class_f1']}, "
            f"of {MAJORITY_LABEL} {run['test_majority_f1']}, macro {run['test_macro_f1']}"
        )


if __name__ == "__main__":
    main()

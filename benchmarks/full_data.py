"""Benchmark the full-data preset, configs/conll2003-full.yaml, beside transformers' run_ner.py recipe run
through the pipeline, each cold, as its own process, one after the other.

    python benchmarks/full_data.py [--config configs/conll2003-full.yaml] [--runs preset run_ner]
                                   [--output benchmarks/results/full_data.json]

Both train the embedded MiniLM on all 14,041 CoNLL-2003 training sentences. run_ner is run_ner.py's
documented defaults (its README's example, TrainingArguments' defaults): learning rate 5e-5, batch 8, 3 epochs,
no warm-up, linear decay, no weight decay, the loss on each word's first sub-word, inputs up to the model's
512 positions. Each run's wall time, training and evaluation seconds, validation F1 at each evaluation (with
the seconds since training began), test F1 (seqeval, and conlleval's FB1 of the predictions file) and peak
RSS are printed and written. The goal: the preset's test F1 at least run_ner's, in at most 0.6 of its wall
time. Compare figures from one run of this script only: machines of one kind differ by up to half in speed.
"""

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from default_run import REPO, conlleval_test_f1, step_dirs, timed_run
from predict import cpu_name

RUN_NER = [
    "--max-train-samples",
    "none",
    "--epochs",
    "3",
    "--batch-size",
    "8",
    "--learning-rate",
    "5e-5",
    "--warmup-ratio",
    "0",
    "--lr-scheduler",
    "linear",
    "--weight-decay",
    "0",
    "--label-alignment",
    "first-subword",
    "--max-length",
    "512",
]
TIME_SHARE = 0.6  # the preset's wall time, at most, as a share of run_ner's


def one_run(scratch: Path, name: str, options: list[str]) -> dict:
    summary = scratch / f"{name}.json"
    run = timed_run(scratch / name, scratch / "hf", scratch / name / "prefect-home", summary, *options)
    steps = step_dirs(summary)
    trained = json.loads((steps["train"] / "train_summary.json").read_text())
    history = json.loads((steps["train"] / "training_history.json").read_text())
    return {
        "options": options,
        **run,
        "test_fb1_conlleval": round(100 * conlleval_test_f1(summary), 2),
        "train_seconds": trained["train_seconds"],
        "train_sentences": trained["num_rows"]["train"],
        "hyperparameters": trained["hyperparameters"],
        "validation": [
            {"epoch": entry["epoch"], "seconds": entry["elapsed_seconds"], "f1": round(entry["eval_f1"], 4)}
            for entry in history
            if "eval_f1" in entry
        ],
        "kept_epoch": trained["best_epoch"],
    }


def verdict(runs: dict) -> dict | None:
    """Whether the preset reached run_ner's test F1 in at most `TIME_SHARE` of its wall time."""
    if not {"preset", "run_ner"} <= set(runs):
        return None
    preset, recipe = runs["preset"], runs["run_ner"]
    share = preset["wall_seconds"] / recipe["wall_seconds"]
    return {
        "wall_share": round(share, 3),
        "test_f1_difference": round(preset["test_f1"] - recipe["test_f1"], 4),
        "reached": share <= TIME_SHARE and preset["test_f1"] >= recipe["test_f1"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=REPO / "configs" / "conll2003-full.yaml")
    parser.add_argument("--runs", nargs="+", choices=("preset", "run_ner"), default=["preset", "run_ner"])
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "results" / "full_data.json")
    args = parser.parse_args()
    options = {"preset": ["--config", str(args.config)], "run_ner": RUN_NER}
    with tempfile.TemporaryDirectory(prefix="finetune-full-") as scratch:
        runs = {name: one_run(Path(scratch), name, options[name]) for name in args.runs}
    figures = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{os.cpu_count()} cores, {cpu_name()}",
        "config": str(
            args.config.resolve().relative_to(REPO) if args.config.resolve().is_relative_to(REPO) else args.config
        ),
        "runs": runs,
        "goal": verdict(runs),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    for name, run in runs.items():
        curve = ", ".join(
            f"epoch {point['epoch']:g}: {point['f1']:.4f} at {point['seconds']} s" for point in run["validation"]
        )
        print(
            f"{name}: wall {run['wall_seconds'] / 60:.1f} min, test F1 {run['test_f1']:.4f} (conlleval FB1 "
            f"{run['test_fb1_conlleval']}), validation F1 {curve}, peak RSS {run['peak_rss_mib']} MiB"
        )
    if figures["goal"]:
        goal = figures["goal"]
        print(
            f"preset against run_ner: {goal['wall_share']:.2f} of its wall time (goal <= {TIME_SHARE}), test F1 "
            f"{goal['test_f1_difference']:+.4f} (goal >= 0): {'reached' if goal['reached'] else 'not reached'}"
        )


if __name__ == "__main__":
    main()

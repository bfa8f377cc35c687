"""Benchmark the full-data recipe: configs/conll2003-full.yaml, cold, as its own process.

    python benchmarks/full_data.py [--config configs/conll2003-full.yaml] [--output benchmarks/results/full_data.json]

The embedded MiniLM on all 14,041 CoNLL-2003 training sentences. Prints and writes wall time,
training and evaluation seconds, validation F1 at each evaluation (with the seconds since
training began), test FB1 as conlleval scores the predictions file, and peak RSS. The issue's
goal on a 2-core CPU: test FB1 >= 88.5 in <= 15 minutes.
"""

import argparse
import json
import os
import tempfile
from pathlib import Path

from default_run import REPO, conlleval_test_f1, step_dirs, timed_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=REPO / "configs" / "conll2003-full.yaml")
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "results" / "full_data.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="finetune-full-") as scratch:
        scratch = Path(scratch)
        summary = scratch / "summary.json"
        run = timed_run(scratch / "artifacts", scratch / "hf", scratch / "prefect-home", summary, "--config", str(args.config))
        steps = step_dirs(summary)
        trained = json.loads((steps["model"] / "train_summary.json").read_text())
        history = json.loads((steps["model"] / "training_history.json").read_text())
        figures = {
            "config": str(args.config.relative_to(REPO)),
            **run,
            "test_fb1_conlleval": round(100 * conlleval_test_f1(summary), 2),
            "train_seconds": trained["train_seconds"],
            "train_sentences": trained["num_rows"]["train"],
            "validation": [
                {"epoch": entry["epoch"], "seconds": entry["elapsed_seconds"], "f1": round(entry["eval_f1"], 4)}
                for entry in history if "eval_f1" in entry
            ],
            "kept_epoch": trained["best_epoch"],
            "cpu_count": os.cpu_count(),
        }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    curve = ", ".join(f"epoch {point['epoch']:g}: {point['f1']:.4f} at {point['seconds']} s" for point in figures["validation"])
    print(f"wall {figures['wall_seconds'] / 60:.1f} min (goal <= 15), test FB1 {figures['test_fb1_conlleval']} "
          f"(goal >= 88.5), validation F1 {curve}, peak RSS {figures['peak_rss_mib']} MiB")


if __name__ == "__main__":
    main()

"""Benchmark a sweep: configs/sweeps/ner-default-slice.yaml cold, then again (every trial cached).

    python benchmarks/sweep.py [--config configs/sweeps/ner-default-slice.yaml] [--output benchmarks/results/sweep.json]

Eight TPE trials over learning rate, warm-up and label alignment on the default NER slice (the
embedded MiniLM, 6,000 sentences, one epoch), inline, one at a time. Prints and writes each
run's wall time, every trial (options, validation and test F1, seconds, cached), the winner's
options and test F1 against the default run's (benchmarks/results/default_run.json, measured by
another script: compare its F1, not its seconds), and copies the sweep's plot beside the JSON.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from default_run import REPO, run_env


def timed_sweep(config: Path, scratch: Path, summary: Path) -> dict:
    env = run_env(scratch / "prefect-home", scratch / "hf")
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "flows.sweep", "--config", str(config), "--summary-json", str(summary)],
        cwd=REPO,
        env=env,
        check=True,
    )
    result = json.loads(summary.read_text())
    return {"wall_seconds": round(time.perf_counter() - started, 1), "result": result}


def trial_rows(result: dict) -> list[dict]:
    return [
        {
            "trial": trial["number"],
            **trial["params"],
            "state": trial["state"],
            "seconds": trial["seconds"],
            "cached": trial["cached"],
            "validation_f1": trial["validation"] and round(trial["validation"]["f1"], 4),
            "test_f1": trial["test"] and round(trial["test"]["f1"], 4),
        }
        for trial in result["trials"]
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=REPO / "configs" / "sweeps" / "ner-default-slice.yaml")
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "results" / "sweep.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="finetune-sweep-") as scratch:
        scratch = Path(scratch)
        config = scratch / "sweep.yaml"
        # The sweep file as given, with the scratch artifacts directory for its runs.
        values = yaml.safe_load(args.config.read_text())
        values["base"] = {**(values.get("base") or {}), "artifacts_dir": str(scratch / "artifacts")}
        config.write_text(yaml.safe_dump(values, sort_keys=False))
        cold = timed_sweep(config, scratch, scratch / "cold.json")
        cached = timed_sweep(config, scratch, scratch / "cached.json")
        args.output.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(Path(cold["result"]["report_dir"]) / "sweep.png", args.output.with_suffix(".png"))
    winner = cold["result"]["winner"]
    default = json.loads((REPO / "benchmarks" / "results" / "default_run.json").read_text())["default"]
    figures = {
        "config": str(args.config.relative_to(REPO)),
        "cold_wall_seconds": cold["wall_seconds"],
        "cached_wall_seconds": cached["wall_seconds"],
        "cached_trials": sum(trial["cached"] for trial in cached["result"]["trials"]),
        "trials": trial_rows(cold["result"]),
        "winner": {
            "trial": winner["number"],
            "params": winner["params"],
            "validation_f1": round(winner["validation"]["f1"], 4),
            "test_f1": round(winner["test"]["f1"], 4),
        },
        "default_run_test_f1": default["test_f1"],
        "most_influential": cold["result"]["most_influential"],
        "published": cold["result"]["run"]["decision"]["publish"],
        "plot": args.output.with_suffix(".png").name,
        "cpu_count": os.cpu_count(),
    }
    args.output.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    print(
        f"sweep: {len(figures['trials'])} trials in {figures['cold_wall_seconds'] / 60:.1f} min; cached re-run "
        f"{figures['cached_wall_seconds']} s; winner {winner['params']} test F1 {figures['winner']['test_f1']} "
        f"(default run {figures['default_run_test_f1']})"
    )


if __name__ == "__main__":
    main()

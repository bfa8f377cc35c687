"""Benchmark the default job: a cold run, a warm identical re-run, and tokenization speed.

    python benchmarks/default_run.py [--output benchmarks/results/default_run.json]

Cold means an empty artifacts directory, an empty Hugging Face datasets cache and an empty
Prefect home; warm is the same command again, and warm_empty_prefect_home the same command
once more with a new, empty Prefect home (as on a fresh worker that sees the same artifacts).
Each run is a fresh `python -m flows.finetune` process, as a user would start it. Targets on
a 2-core CPU: cold <= 300 s, warm <= 20 s, tokenization of the full CoNLL-2003 training split
>= 10,000 sentences/s.
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


def timed_run(artifacts: Path, hf_home: Path, prefect_home: Path, summary: Path, *options: str) -> dict:
    """Wall time, peak RSS and the summary of one CLI run in its own process."""
    env = {
        **os.environ, "HF_HOME": str(hf_home), "PREFECT_HOME": str(prefect_home), "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    }  # fmt: skip
    command = [sys.executable, "-m", "flows.finetune", "--artifacts-dir", str(artifacts), "--summary-json", str(summary), *options]
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=REPO, env=env)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"the default run failed with exit code {os.waitstatus_to_exitcode(status)}")
    result = json.loads(summary.read_text())
    return {
        "wall_seconds": round(seconds, 1),
        "peak_rss_mib": round(usage.ru_maxrss / 1024),
        **{f"{split}_{name}": round(scores[name], 4) for split, scores in result["metrics"].items() for name in ("f1", "accuracy")},
        "steps": {step["name"]: {"seconds": step["seconds"], "cached": step["cached"]} for step in result["steps"]},
    }


def help_seconds(repeats: int = 3) -> float:
    """The median wall time of `python -m flows.finetune --help` (target <= 2 s)."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "flows.finetune", "--help"], cwd=REPO, capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return round(sorted(times)[len(times) // 2], 2)


def conlleval_test_f1(summary: Path) -> float:
    """Test F1 of the run's predictions file as the CoNLL shared task's conlleval script scores it."""
    from tasks.assets import embedded_conlleval

    evaluation = next(step["path"] for step in json.loads(summary.read_text())["steps"] if step["name"] == "evaluation")
    with open(Path(evaluation) / "predictions" / "test.txt") as predictions:
        report = subprocess.run(["perl", str(embedded_conlleval())], stdin=predictions, capture_output=True, text=True, check=True)
    accuracy_line = next(line for line in report.stdout.splitlines() if line.startswith("accuracy:"))
    return float(accuracy_line.rsplit("FB1:", 1)[1]) / 100


def tokenization_speed() -> dict:
    """Sentences per second for tokenize/align of the full CoNLL-2003 training split."""
    from tasks.assets import EMBEDDED_CONLL2003
    from tasks.config import DataConfig, ModelConfig
    from tasks.load import normalize
    from tasks.sources import read_source, resolve_dataset
    from tasks.pretrained import load_tokenizer, resolve_model
    from tasks.tokenization import continuation_labels, tokenize_words

    data = DataConfig(dataset=EMBEDDED_CONLL2003, max_train_samples=None)
    source = resolve_dataset(data)
    dataset, labels = normalize(read_source(source, data), source, data, "ner")
    tokenizer = load_tokenizer(resolve_model(ModelConfig()))
    started = time.perf_counter()
    tokenize_words(dataset["train"], tokenizer, 128, continuation_labels(labels), "all-subwords")
    seconds = time.perf_counter() - started
    return {"sentences": len(dataset["train"]), "seconds": round(seconds, 2), "sentences_per_second": round(len(dataset["train"]) / seconds)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "results" / "default_run.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="finetune-bench-") as scratch:
        scratch = Path(scratch)
        artifacts, hf, home = scratch / "artifacts", scratch / "hf", scratch / "prefect-home"
        cold = timed_run(artifacts, hf, home, scratch / "cold.json")
        warm = timed_run(artifacts, hf, home, scratch / "warm.json")
        empty_home = timed_run(artifacts, hf, scratch / "empty-prefect-home", scratch / "empty-home.json")
        cold["test_f1_conlleval"] = conlleval_test_f1(scratch / "cold.json")
    figures = {
        "cold": cold, "warm": warm, "warm_empty_prefect_home": empty_home, "tokenization": tokenization_speed(),
        "help_seconds": help_seconds(), "cpu_count": os.cpu_count(),
    }  # fmt: skip
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    print(f"cold {cold['wall_seconds']} s (target <= 300), warm {warm['wall_seconds']} s (target <= 20; with an "
          f"empty Prefect home {empty_home['wall_seconds']} s), --help {figures['help_seconds']} s (target <= 2), "
          f"test F1 {cold['test_f1']} (conlleval {cold['test_f1_conlleval']:.4f}; target >= 0.75), tokenization "
          f"{figures['tokenization']['sentences_per_second']} sentences/s (target >= 10000)")


if __name__ == "__main__":
    main()

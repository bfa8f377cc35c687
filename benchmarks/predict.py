"""Benchmark batch prediction with PyTorch fp32, ONNX fp32 and ONNX int8, on the default model.

    python benchmarks/predict.py [--sentences 50000] [--output benchmarks/results/predict.json]

It fine-tunes the default model with --export onnx --quantize int8 (its console lines counted), then runs
`python -m flows.predict` in a process of its own per runtime, against one Prefect server kept running:
over CoNLL-2003's test split with --score (3,453 sentences: F1), and over plain text of ``--sentences``
sentences made from the training split (each sentence as a line, the split shuffled again, seeded, as
often as needed). For each: sentences per second of the prediction step, the process's wall time and
peak memory. ONNX fp32 runs the release's onnx/model.onnx (a copy of the release without the int8 file,
since --runtime onnx takes the int8 model when the release ships one). Last, the PyTorch run over the
test split again: every step from cache. Compare figures from one run of this script only.
"""

import argparse
import json
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from default_run import REPO, run_env, running_server

GOAL = {"int8_speedup": 2.0, "max_f1_drop": 0.005}


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def run(module: str, options: list[str], env: dict, log: Path) -> tuple[dict, float, int]:
    """The summary, wall seconds and peak RSS (MiB) of ``python -m <module>`` in its own process; its console in ``log``."""
    summary = log.with_suffix(".json")
    command = [sys.executable, "-m", module, "--summary-json", str(summary), *options]
    started = time.perf_counter()
    with open(log, "w") as console:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=console, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{module} failed: see {log}\n" + log.read_text()[-3000:])
    return json.loads(summary.read_text()), round(seconds, 1), round(usage.ru_maxrss / 1024)


BAR = re.compile(r"^(?P<name>[^|]*?)\s*\d+%\|")


def console_lines(log: Path) -> int:
    """Lines a terminal shows: a progress bar's redraws are one line (into a file, tqdm writes each on a line
    of its own; on a terminal it redraws the line with a carriage return)."""
    shown, bar = 0, None
    for line in (line.split("\r")[-1] for line in log.read_text().split("\n")):
        match = BAR.match(line)
        if line.strip() and (match is None or match["name"] != bar):
            shown += 1
        bar = match["name"] if match else None
    return shown


def training_text(sentences: int, target: Path) -> None:
    """``sentences`` lines of CoNLL-2003 training sentences, the split shuffled again (seeded) as often as needed."""
    from tasks.data.assets import embedded_conll2003_files

    blocks = [block for block in embedded_conll2003_files()["train"].read_text().split("\n\n") if block.strip()]
    texts = [" ".join(line.split()[0] for line in block.splitlines()) for block in blocks if "-DOCSTART-" not in block]
    lines, generator = [], random.Random(0)
    while len(lines) < sentences:
        generator.shuffle(texts)
        lines += texts
    target.write_text("\n".join(lines[:sentences]) + "\n")


def without_int8(release: Path, target: Path) -> Path:
    """A copy of the release (hard links) that ships the fp32 ONNX model only."""
    if not target.exists():
        shutil.copytree(release, target, copy_function=os.link, ignore=shutil.ignore_patterns("model_quantized.onnx"))
    return target


def prediction_figures(summary: dict, seconds: float, peak: int) -> dict:
    return {
        "sentences": summary["rows"],
        "sentences_per_second": summary["rows_per_second"],
        "wall_seconds": seconds,
        "peak_rss_mib": peak,
        **({"test_f1": round(summary["scores"]["f1"], 4)} if summary["scores"] else {}),
        "steps": {step["name"]: {"seconds": step["seconds"], "cached": step["cached"]} for step in summary["steps"]},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=50_000)
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "results" / "predict.json")
    parser.add_argument("--scratch", type=Path, help="Keep the artifacts and logs here (a second run reuses them).")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="predict-benchmark-") as temporary:
        scratch = args.scratch or Path(temporary)
        artifacts, home = scratch / "artifacts", scratch / "prefect-home"
        home.mkdir(parents=True, exist_ok=True)
        many = scratch / "training-sentences.txt"
        training_text(args.sentences, many)
        with running_server(home) as url:
            env = run_env(home) | {"PREFECT_API_URL": url}
            trained, train_seconds, train_peak = run(
                "flows.finetune",
                ["--artifacts-dir", str(artifacts), "--export", "onnx", "--quantize", "int8"],
                env,
                scratch / "finetune.log",
            )
            lines = console_lines(scratch / "finetune.log")
            release = Path(trained["model_dir"])
            parity = json.loads((release / "onnx" / "parity.json").read_text())
            models = {
                "pytorch_fp32": (release, "pytorch"),
                "onnx_fp32": (without_int8(release, scratch / "fp32"), "onnx"),
                "onnx_int8": (release, "onnx"),
            }
            results = {}
            for name, (model, runtime) in models.items():
                common = ["--model", str(model), "--runtime", runtime, "--artifacts-dir", str(artifacts)]
                test = run(
                    "flows.predict",
                    [*common, "--input", "embedded:conll2003", "--split", "test", "--score"],
                    env,
                    scratch / f"{name}-test.log",
                )
                large = run("flows.predict", [*common, "--input", str(many)], env, scratch / f"{name}-large.log")
                results[name] = {"test": prediction_figures(*test), "training_sentences": prediction_figures(*large)}
                print(name, json.dumps(results[name]), flush=True)
            cached = run(
                "flows.predict",
                [
                    "--model",
                    str(release),
                    "--artifacts-dir",
                    str(artifacts),
                    "--input",
                    "embedded:conll2003",
                    "--split",
                    "test",
                    "--score",
                ],
                env,
                scratch / "cached.log",
            )
    speed = {
        inputs: round(
            results["onnx_int8"][inputs]["sentences_per_second"]
            / results["pytorch_fp32"][inputs]["sentences_per_second"],
            2,
        )
        for inputs in ("test", "training_sentences")
    }
    drop = round(results["pytorch_fp32"]["test"]["test_f1"] - results["onnx_int8"]["test"]["test_f1"], 4)
    figures = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{os.cpu_count()} cores, {cpu_name()}",
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip(),
        "finetune": {
            "wall_seconds": train_seconds,
            "peak_rss_mib": train_peak,
            "console_lines": lines,
            "test_f1": round(trained["metrics"]["test"]["f1"], 4),
            "onnx_step_seconds": next(s["seconds"] for s in trained["steps"] if s["name"] == "onnx"),
        },
        "parity": parity,
        **results,
        "cached_rerun": {"wall_seconds": cached[1], "all_cached": all(step["cached"] for step in cached[0]["steps"])},
        "int8_speedup_over_pytorch": speed,
        "int8_f1_drop": drop,
        "goal": GOAL,
        "goal_met": min(speed.values()) >= GOAL["int8_speedup"] and drop <= GOAL["max_f1_drop"],
    }
    args.output.write_text(json.dumps(figures, indent=1) + "\n")
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()

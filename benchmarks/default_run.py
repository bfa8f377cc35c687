"""Benchmark the default job against the reference recipe and against an earlier commit, side by side,
and its start-up.

    python benchmarks/default_run.py [--before REV] [--output benchmarks/results/default_run.json]

reference is the recipe the default was on 2026-12-01 (6,000 sentences, one epoch, batch 16,
lr 2e-4, all sub-words labelled, full precision); default is today's default run. Each is run
cold (empty artifacts directory, Hugging Face cache and Prefect home), then again with
--evals-per-epoch 4 on the same artifacts, whose validation F1 as training goes gives the
training seconds to a validation F1 of 0.80. warm is the default again (every step cached);
warm_empty_prefect_home the same with a new, empty Prefect home (a fresh worker that sees the
same artifacts); warm_running_server the same against a Prefect server kept running, as
`prefect server start` keeps one (no temporary server to start). Each run is a fresh
`python -m flows.finetune` process, as a user would start it. Compare figures from one run of
this script only: machines of one kind differ by up to half in speed. before is the default run,
cold, at the commit --before (by default the last before a run of one evaluation left validation to
the evaluate step), with the digest of the weights it kept.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Every option the default may change since, stated, so the reference stays what it was.
REFERENCE = [
    "--max-train-samples",
    "6000",
    "--epochs",
    "1",
    "--learning-rate",
    "2e-4",
    "--batch-size",
    "16",
    "--label-alignment",
    "all-subwords",
    "--warmup-ratio",
    "0.1",
    "--lr-scheduler",
    "linear",
    "--weight-decay",
    "0.01",
    "--mixed-precision",
    "no",
    "--evals-per-epoch",
    "1",
    "--max-length",
    "128",
]
CURVE_EVALUATIONS = "4"
BEFORE = "af27e6c"  # the last commit whose train step scored validation in a run of one evaluation
TARGET_F1 = 0.80


def run_env(prefect_home: Path, hf_home: Path | None = None) -> dict[str, str]:
    """The environment of a benchmarked CLI run: its own Prefect home, no telemetry, and its own
    Hugging Face home when given (None keeps the user's, where a Hub model may already be cached)."""
    env = {
        **os.environ,
        "PREFECT_HOME": str(prefect_home),
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    }
    return {**env, "HF_HOME": str(hf_home)} if hf_home else env


@contextmanager
def running_server(prefect_home: Path) -> Iterator[str]:
    """A Prefect server kept running, as `prefect server start` keeps one, and its API URL."""
    from flows.temporary_server import free_port, wait_for_server

    port = free_port()
    command = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(command, env=run_env(prefect_home), stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/api"
    try:
        wait_for_server(server, url)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def timed_run(
    artifacts: Path,
    hf_home: Path,
    prefect_home: Path,
    summary: Path,
    *options: str,
    api_url: str | None = None,
    cwd: Path = REPO,
) -> dict:
    """Wall time, peak RSS and the summary of one CLI run in its own process (against the server at
    ``api_url``, else with a temporary one), started in ``cwd``: the checkout whose code it runs."""
    env = run_env(prefect_home, hf_home) | ({"PREFECT_API_URL": api_url} if api_url else {})
    command = [
        sys.executable,
        "-m",
        "flows.finetune",
        "--artifacts-dir",
        str(artifacts),
        "--summary-json",
        str(summary),
        *options,
    ]
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=env)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"the default run failed with exit code {os.waitstatus_to_exitcode(status)}")
    from tasks.scores.metrics import reported_scores

    result = json.loads(summary.read_text())
    return {
        "wall_seconds": round(seconds, 1),
        "peak_rss_mib": round(usage.ru_maxrss / 1024),
        # F1 and accuracy, and for NER since 2026-12-07 strict IOB2 F1 and SemEval's partial F1 beside them.
        **{
            f"{split}_{name}": round(value, 4)
            for split, scores in result["metrics"].items()
            for name, value in reported_scores(scores, ("f1", "accuracy")).items()
        },
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


def step_dirs(summary: Path) -> dict[str, Path]:
    """Each step's artifact directory by step name, from a run's --summary-json file."""
    return {step["name"]: Path(step["path"]) for step in json.loads(summary.read_text())["steps"]}


def training_figures(summary: Path) -> dict:
    """What a run's train and evaluate steps recorded: training seconds, sentences and epochs, evaluation seconds."""
    steps = step_dirs(summary)
    trained = json.loads((steps["train"] / "train_summary.json").read_text())
    evaluated = json.loads((steps["evaluate"] / "evaluated_on.json").read_text())
    return {
        "train_seconds": trained["train_seconds"],
        "evaluation_seconds": round(sum(evaluated["seconds"].values()), 1),
        "train_sentences": trained["num_rows"]["train"],
        "epochs": trained["hyperparameters"]["epochs"],
        "weights_sha256": trained["weights_sha256"],
    }


def conlleval_test_f1(summary: Path) -> float:
    """Test F1 of the run's predictions file as the CoNLL shared task's conlleval script scores it."""
    from tasks.data.assets import embedded_conlleval

    with open(step_dirs(summary)["evaluate"] / "predictions" / "test.txt") as predictions:
        report = subprocess.run(
            ["perl", str(embedded_conlleval())], stdin=predictions, capture_output=True, text=True, check=True
        )
    accuracy_line = next(line for line in report.stdout.splitlines() if line.startswith("accuracy:"))
    return float(accuracy_line.rsplit("FB1:", 1)[1]) / 100


def tokenization_speed() -> dict:
    """Sentences per second for tokenize/align of the full CoNLL-2003 training split."""
    from tasks.config.sections import DataConfig, ModelConfig, TokenizationConfig
    from tasks.data.assets import EMBEDDED_CONLL2003
    from tasks.data.sources import read_source, resolve_dataset
    from tasks.pretrained import load_tokenizer, resolve_model
    from tasks.profiles.ner.tokenization import tokenize
    from tasks.steps.load import normalize

    data = DataConfig(dataset=EMBEDDED_CONLL2003, max_train_samples=None)
    source = resolve_dataset(data)
    dataset, labels, _ = normalize(read_source(source, data).splits, source, data, "ner")
    tokenizer = load_tokenizer(resolve_model(ModelConfig()))
    started = time.perf_counter()
    tokenize(dataset["train"], tokenizer, labels, TokenizationConfig(), "train")
    seconds = time.perf_counter() - started
    return {
        "sentences": len(dataset["train"]),
        "seconds": round(seconds, 2),
        "sentences_per_second": round(len(dataset["train"]) / seconds),
    }


def recipe_figures(name: str, scratch: Path, options: list[str]) -> dict:
    """A cold run of a recipe, then its validation curve on the same (now cached) data."""
    artifacts, hf, home = scratch / name / "artifacts", scratch / name / "hf", scratch / name / "prefect-home"
    summary = scratch / name / "summary.json"
    run = timed_run(artifacts, hf, home, summary, *options)
    trained = training_figures(summary)
    curve_summary = scratch / name / "curve.json"
    timed_run(artifacts, hf, home, curve_summary, *options, "--evals-per-epoch", CURVE_EVALUATIONS)
    history = json.loads((step_dirs(curve_summary)["train"] / "training_history.json").read_text())
    curve = [
        {"step": entry["step"], "seconds": entry["elapsed_seconds"], "validation_f1": round(entry["eval_f1"], 4)}
        for entry in history
        if "eval_f1" in entry
    ]
    return {
        "options": " ".join(options) or "(none)",
        **run,
        "test_f1_conlleval": conlleval_test_f1(summary),
        "train_seconds": trained["train_seconds"],
        "evaluation_seconds": trained["evaluation_seconds"],
        "weights_sha256": trained["weights_sha256"],
        "train_sentences_per_second": round(
            trained["train_sentences"] * trained["epochs"] / trained["train_seconds"], 1
        ),
        "validation_curve": curve,
        f"train_seconds_to_validation_f1_{TARGET_F1}": next(
            (point["seconds"] for point in curve if point["validation_f1"] >= TARGET_F1), None
        ),
    }


@contextmanager
def checkout(revision: str, scratch: Path) -> Iterator[Path]:
    """``revision`` in a git worktree under ``scratch``, removed after. `python -m` puts the working
    directory first on sys.path, so a run started there (``timed_run(cwd=...)``) runs that commit's code."""
    worktree = scratch / f"checkout-{revision}"
    subprocess.run(["git", "worktree", "add", "--detach", str(worktree), revision], cwd=REPO, check=True)
    try:
        yield worktree
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=REPO, check=True)


def before_figures(scratch: Path, before: str) -> dict:
    """The default run, cold, at the commit ``before``."""
    folder = scratch / "before"
    with checkout(before, scratch) as worktree:
        run = timed_run(
            folder / "artifacts", folder / "hf", folder / "prefect-home", folder / "summary.json", cwd=worktree
        )
    return {"commit": before, **run, **training_figures(folder / "summary.json")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", default=BEFORE, help="the commit whose default run is the 'before' figure")
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "results" / "default_run.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="finetune-bench-") as scratch:
        scratch = Path(scratch)
        before = before_figures(scratch, args.before)
        reference = recipe_figures("reference", scratch, REFERENCE)
        default = recipe_figures("default", scratch, [])
        cached = scratch / "default"
        warm = timed_run(cached / "artifacts", cached / "hf", cached / "prefect-home", scratch / "warm.json")
        empty_home = timed_run(cached / "artifacts", cached / "hf", scratch / "empty-home", scratch / "empty-home.json")
        with running_server(cached / "prefect-home") as url:
            warm_server = timed_run(
                cached / "artifacts", cached / "hf", cached / "prefect-home", scratch / "server.json", api_url=url
            )
    figures = {
        "before": before,
        "reference": reference,
        "default": default,
        "warm": warm,
        "warm_empty_prefect_home": empty_home,
        "warm_running_server": warm_server,
        "tokenization": tokenization_speed(),
        "help_seconds": help_seconds(),
        "cpu_count": os.cpu_count(),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    to_target = f"train_seconds_to_validation_f1_{TARGET_F1}"
    for name, row in (("reference", reference), ("default", default)):
        print(
            f"{name:<9} wall {row['wall_seconds']:6.1f} s  train {row['train_seconds']:6.1f} s  evaluation "
            f"{row['evaluation_seconds']:5.1f} s  {row['train_sentences_per_second']:5.1f} sentences/s  test F1 "
            f"{row['test_f1']:.4f} (conlleval {row['test_f1_conlleval']:.4f}, strict IOB2 {row['test_strict_f1']:.4f}, "
            f"SemEval partial {row['test_partial_f1']:.4f})  to validation F1 {TARGET_F1}: "
            f"{row[to_target]} s  peak {row['peak_rss_mib']} MiB"
        )
    change = default["wall_seconds"] / before["wall_seconds"] - 1
    print(
        f"default run at {before['commit']} {before['wall_seconds']} s (evaluation {before['evaluation_seconds']} s), "
        f"now {default['wall_seconds']} s ({change:+.1%}); test F1 {before['test_f1']:.4f} then, {default['test_f1']:.4f} "
        f"now; the same weights kept: {before['weights_sha256'] == default['weights_sha256']}"
    )
    print(
        f"warm {warm['wall_seconds']} s (target <= 10; with an empty Prefect home {empty_home['wall_seconds']} s, "
        f"against a running Prefect server {warm_server['wall_seconds']} s), "
        f"--help {figures['help_seconds']} s (target <= 2), tokenization "
        f"{figures['tokenization']['sentences_per_second']} sentences/s (target >= 10000)"
    )


if __name__ == "__main__":
    main()

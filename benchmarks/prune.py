"""Benchmark retention on a simulated year of weekly retraining: 52 releases of the tiny test model (a
2-layer BERT with the real tokenizer) on one artifacts folder, each week on new data, then
`flows.prune --keep 5`.

    python benchmarks/prune.py [--weeks 52] [--output benchmarks/results/prune.json]

Week w trains on 200 CoNLL-2003 training sentences starting at 50 x w (new data every week: new
dataset, report and tokenized artifacts too), validates and tests on the same 16 + 16 sentences, and
runs the finetune flow in this process against one Prefect server kept running. It reports the folder's
bytes before, what the dry run lists and how long it took, the bytes after --apply and how long that
took, and that the published and the last five releases still load.
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from default_run import REPO, run_env, running_server

sys.path.insert(0, str(REPO / "tests"))
from conftest import build_tiny_model, conll_sentences  # the tests' tiny model and CoNLL reader


def folder_bytes(root: Path) -> int:
    """Bytes on disk, a hard-linked file once."""
    seen, total = set(), 0
    for folder, _, names in os.walk(root):
        for name in names:
            status = os.lstat(os.path.join(folder, name))
            if (status.st_dev, status.st_ino) not in seen:
                seen.add((status.st_dev, status.st_ino))
                total += status.st_size
    return total


def week_data(week: int, target: Path) -> Path:
    from tasks.data.assets import embedded_conll2003_files

    files = embedded_conll2003_files()
    target.mkdir(parents=True)
    train = conll_sentences(files["train"], 50 * week + 200)[50 * week :]
    for name, sentences in (
        ("train", train),
        ("valid", conll_sentences(files["validation"], 16)),
        ("test", conll_sentences(files["test"], 16)),
    ):
        (target / f"{name}.txt").write_text("\n\n".join(sentences) + "\n")
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weeks", type=int, default=52)
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "results" / "prune.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="prune-benchmark-") as scratch:
        scratch = Path(scratch)
        (scratch / "home").mkdir()
        model, artifacts = build_tiny_model(scratch / "tiny-model"), scratch / "artifacts"
        with running_server(scratch / "home") as url:
            os.environ.update(run_env(scratch / "home") | {"PREFECT_API_URL": url})
            from flows.finetune import finetune
            from flows.prune import PruneConfig, prune
            from tasks.config.finetune import FinetuneConfig

            started = time.perf_counter()
            decisions = []
            for week in range(args.weeks):
                config = FinetuneConfig(
                    model=str(model),
                    dataset=str(week_data(week, scratch / f"data-{week}")),
                    artifacts_dir=artifacts,
                    max_train_samples=None,
                    batch_size=16,
                    eval_batch_size=32,
                    learning_rate=1e-3,
                    seed=week,
                    min_score=0.0,
                )
                decisions.append(finetune(config).decision.publish)
                print(f"week {week + 1}: {'published' if decisions[-1] else 'kept out'}", flush=True)
            season_seconds = time.perf_counter() - started
            before = folder_bytes(artifacts)
            dry = prune(PruneConfig(artifacts_dir=artifacts, keep=5, min_age_hours=0))
            applied = prune(PruneConfig(artifacts_dir=artifacts, keep=5, min_age_hours=0, apply=True))
            after = folder_bytes(artifacts)
            kept = [Path(path) for path in applied.plan.kept_releases]
            from transformers import AutoModelForTokenClassification

            loadable = all(AutoModelForTokenClassification.from_pretrained(path) is not None for path in kept)
    figures = {
        "date": time.strftime("%Y-%m-%d"),
        "weeks": args.weeks,
        "published_weeks": sum(decisions),
        "season_seconds": round(season_seconds, 1),
        "bytes_before": before,
        "bytes_after": after,
        "listed": len(dry.plan.remove),
        "listed_bytes": dry.plan.freed_bytes,
        "dry_run_seconds": dry.seconds,
        "removed": len(applied.removed),
        "apply_seconds": applied.seconds,
        "kept_releases": len(kept),
        "kept_releases_load": loadable,
    }
    args.output.write_text(json.dumps(figures, indent=1) + "\n")
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()

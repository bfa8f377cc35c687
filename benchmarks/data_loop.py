"""Benchmark the data loop: annotations as annotation tools export them, the mistakes, and suspect labels.

    python benchmarks/data_loop.py [--parts formats refused label_issues default_run] [--output FILE]

On 3,000 CoNLL-2003 training sentences (a seeded sample) with the full validation and test splits, each run
cold in its own process with the default settings otherwise:

1. The same sentences read as CoNLL, as doccano JSON lines and as a Label Studio export (the words joined
   with spaces, each entity a character span): test F1 of each (the goal: within 0.01 of CoNLL's; the
   splitter cuts initials, ordinals and abbreviations where CoNLL keeps their dot).
2. A file with one span of each kind that cannot be tags: the lines the load step gives.
3. The same sentences with the type of one entity changed in 5 % of them (seeded; recorded in the JSON):
   a run with --label-issues, and how many of the changed sentences are among the top-ranked as many as were
   changed (the goal: at least half); its wall time against the same run without it.
4. The default run: the counts of its test mistakes by kind (errors/test.jsonl).
"""

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

from default_run import REPO, step_dirs, timed_run
from predict import cpu_name

sys.path.insert(0, str(REPO / "tests"))
from span_exports import write_export  # the tests' exports, as doccano and Label Studio write them

SENTENCES, NOISE, SEED = 3000, 0.05, 0
COMMON = ("--max-train-samples", "none")
FORMATS = {"conll": None, "doccano": "doccano", "label-studio": "label-studio"}


def conll_splits() -> dict[str, list[tuple[list[str], list[str]]]]:
    """The embedded CoNLL-2003 in IOB2: a seeded sample of training sentences, all of validation and test."""
    from tasks.config.sections import DataConfig
    from tasks.data.sources import read_source, resolve_dataset
    from tasks.steps.load import normalize

    data = DataConfig(dataset="embedded:conll2003", max_train_samples=None)
    source = resolve_dataset(data)
    splits, labels, _ = normalize(read_source(source, data).splits, source, data, "ner")
    train = splits["train"].shuffle(seed=SEED).select(range(SENTENCES))
    return {
        split: [(words, [labels[tag] for tag in tags]) for words, tags in zip(rows["tokens"], rows["ner_tags"])]
        for split, rows in (("train", train), ("validation", splits["validation"]), ("test", splits["test"]))
    }


def write_conll(path: Path, sentences: list[tuple[list[str], list[str]]]) -> Path:
    path.write_text("".join("".join(f"{w} {t}\n" for w, t in zip(words, tags)) + "\n" for words, tags in sentences))
    return path


def write_folder(folder: Path, splits: dict, shape: str | None) -> Path:
    folder.mkdir(parents=True)
    for split, sentences in splits.items():
        if shape is None:
            write_conll(folder / f"{split}.txt", sentences)
        else:
            write_export(folder / f"{split}.{'json' if shape == 'label-studio' else 'jsonl'}", sentences, shape)
    return folder


def with_noise(train: list[tuple[list[str], list[str]]]) -> tuple[list, list[dict]]:
    """The sentences with one entity's type changed in ``NOISE`` of them, and what was changed."""
    from tasks.data.spans import entity_words

    rng = random.Random(SEED)
    candidates = [row for row, (_, tags) in enumerate(train) if entity_words(tags)]
    changed, noisy = [], list(train)
    for row in sorted(rng.sample(candidates, round(NOISE * len(train)))):
        words, tags = train[row]
        first, last, kind = rng.choice(entity_words(tags))
        new = rng.choice(sorted({"PER", "ORG", "LOC", "MISC"} - {kind}))
        tags = [*tags[:first], f"B-{new}", *[f"I-{new}"] * (last - first), *tags[last + 1 :]]
        noisy[row] = (words, tags)
        changed.append({"row": row, "words": " ".join(words[first : last + 1]), "was": kind, "now": new})
    return noisy, changed


def first_lines(sentences: list) -> list[int]:
    """The line each sentence starts on in the CoNLL file `write_conll` writes."""
    lines, line = [], 1
    for words, _ in sentences:
        lines.append(line)
        line += len(words) + 1
    return lines


def run(scratch: Path, name: str, *options: str) -> tuple[dict, dict[str, Path]]:
    summary = scratch / f"{name}.json"
    figures = timed_run(scratch / name, scratch / "hf", scratch / name / "prefect-home", summary, *options)
    return figures, step_dirs(summary)


def refused_spans(scratch: Path) -> list[str]:
    from tasks.config.sections import DataConfig
    from tasks.data.local_files import left_out_lines
    from tasks.data.sources import read_source, resolve_dataset

    text = "EU rejects German call to boycott British lamb ."
    rows = [[[11, 15, "MISC"]], [[0, 2, "ORG"], [0, 10, "MISC"]], [[34, 60, "MISC"]], [[2, 3, "ORG"]], [[0, 2, " "]]]
    file = scratch / "refused" / "train.jsonl"
    file.parent.mkdir()
    file.write_text(
        "".join(json.dumps({"text": text, "label": spans}) + "\n" for spans in rows) + '{"text": "EU", "label": [\n'
    )
    data = DataConfig(dataset=str(file))
    return left_out_lines(read_source(resolve_dataset(data), data).annotations)


def formats(scratch: Path, splits: dict) -> dict:
    results = {}
    for name, shape in FORMATS.items():
        folder = write_folder(scratch / "data" / name, splits, shape)
        figures, _ = run(scratch, name, "--dataset", str(folder), *COMMON)
        results[name] = {"test_f1": figures["test_f1"], "wall_seconds": figures["wall_seconds"]}
    return results


def label_issues(scratch: Path, splits: dict) -> dict:
    noisy, changed = with_noise(splits["train"])
    folder = write_folder(scratch / "data" / "noisy", {**splits, "train": noisy}, None)
    without, _ = run(scratch, "noisy", "--dataset", str(folder), *COMMON)
    found, steps = run(scratch, "noisy-issues", "--dataset", str(folder), *COMMON, "--label-issues")
    report = json.loads((steps["label_issues"] / "label_issues.json").read_text())
    issues = [json.loads(line) for line in (steps["label_issues"] / "label_issues.jsonl").read_text().splitlines()]
    starts = first_lines(noisy)
    changed_lines = {starts[change["row"]] for change in changed}
    top = [issue.get("line") for issue in issues[: len(changed)]]
    return {
        "changed": len(changed),
        "suspect": report["suspect"],
        "seconds": report["seconds"],
        "changed_in_top": sum(line in changed_lines for line in top),
        "changed_anywhere": sum(issue.get("line") in changed_lines for issue in issues),
        "wall_seconds": found["wall_seconds"],
        "wall_seconds_without": without["wall_seconds"],
        "test_f1": found["test_f1"],
        "changes": changed,
    }


def default_run(scratch: Path, splits: dict) -> dict:
    figures, steps = run(scratch, "default")
    metrics = json.loads((steps["evaluate"] / "metrics.json").read_text())
    return {"test_f1": figures["test_f1"], "mistakes": metrics["test"]["mistakes"]}


# Each part of the benchmark, by the key of the results it writes; --parts runs some of them again.
PARTS = {
    "formats": formats,
    "refused": lambda scratch, splits: refused_spans(scratch),
    "label_issues": label_issues,
    "default_run": default_run,
}


def goals(results: dict) -> dict:
    conll_f1 = results["formats"]["conll"]["test_f1"]
    issues = results["label_issues"]
    return {
        "formats_within_0.01": all(abs(run["test_f1"] - conll_f1) <= 0.01 for run in results["formats"].values()),
        "label_issues_half_in_top": issues["changed_in_top"] >= issues["changed"] / 2,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "results" / "data_loop.json")
    parser.add_argument(
        "--parts",
        nargs="+",
        choices=list(PARTS),
        default=list(PARTS),
        help="run only these parts again, keeping the others' results from --output (each part records its date)",
    )
    args = parser.parse_args()
    splits = conll_splits()
    kept = json.loads(args.output.read_text()) if set(args.parts) != set(PARTS) and args.output.exists() else {}
    results: dict = {**kept, "machine": f"{os.cpu_count()} cores, {cpu_name()}", "sentences": SENTENCES}
    with tempfile.TemporaryDirectory(prefix="data-loop-") as scratch_name:
        for part in args.parts:
            results[part] = PARTS[part](Path(scratch_name), splits)
            results.setdefault("dates", {})[part] = time.strftime("%Y-%m-%d")
    results.pop("date", None)
    results["goals"] = goals(results)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    report(results)


def report(results: dict) -> None:
    issues = results["label_issues"]
    for name, figures in results["formats"].items():
        print(f"{name}: test F1 {figures['test_f1']:.4f}, wall {figures['wall_seconds']} s")
    print("refused:", *results["refused"], sep="\n  ")
    print(
        f"label issues: {issues['changed_in_top']} of {issues['changed']} changed sentences in the top {issues['changed']} "
        f"({issues['changed_anywhere']} among all {issues['suspect']} suspect); wall {issues['wall_seconds']} s against "
        f"{issues['wall_seconds_without']} s without"
    )
    print(
        f"default run: test F1 {results['default_run']['test_f1']:.4f}, mistakes {results['default_run']['mistakes']}"
    )
    print("goals:", results["goals"])


if __name__ == "__main__":
    main()

"""Benchmark the pipeline on data shaped like users' data, made from real CoNLL-2003 text, each run
a fresh `python -m flows.finetune` process.

    python benchmarks/users_data.py [--before REV] [--output benchmarks/results/users_data.json]

NER runs train on CoNLL-2003's first 3,000 training sentences for one epoch (the default model),
validate on the first 500 validation sentences and test on the test split's first 60 documents:
- sentences: the documents' sentences, IOB2 (the reference);
- documents: each test document joined into one input (long inputs: since 2026-12-07 read a sentence at
  a time, before in windows), then scored again with --max-length 128, 256 and 512 (a document that fits
  is read whole);
- documents_throughout: every split's documents joined so (training learns from every window), in
  batches of 3: the 3,000 sentences make 612 windows of 128 sub-words, so that both runs take about
  as many optimizer steps (204 and 188) of about as many sub-words (3 x 128 and 16 x 24);
- iobes, io: every split's tags in IOBES and in IO (bare types);
- leaked: a test split of 300 of the training sentences (the gate must refuse it).
Classification runs train on CoNLL-2003 sentences of five words or more labelled by whether they
name a person, sliced 95 / 5 (no-person / person), with --class-weights none and balanced. Then the
data report's time on all of CoNLL-2003, and the default run (no options) at --before (the commit
before users' data) and at this checkout, side by side. Compare figures from one run of this script only: machines of one kind differ by up to
half in speed.
"""

import argparse
import json
import os
import random
import tempfile
import time
from pathlib import Path

from default_run import REPO, checkout, step_dirs, timed_run

TRAIN_SENTENCES, VALIDATION_SENTENCES, TEST_DOCUMENTS, LEAKED_SENTENCES = 3000, 500, 60, 300
NER_OPTIONS = ["--epochs", "1", "--max-train-samples", "none"]
WINDOW_BATCH = {"documents_throughout": ["--batch-size", "3"]}  # see the module's docstring
RARE_SLICE = {"train": 3000, "validation": 500, "test": 1800}  # sentences per split, 5 % of them the rare class
# The rare class sorts second: for two classes, F1 (the gate's and the kept checkpoint's) is label 1's.
RARE_SHARE, RARE_LABEL, COMMON_LABEL = 0.05, "person", "no-person"
BEFORE = "af80492"  # the last commit before long inputs, tag schemes, class weights and the data report

Sentence = list[list[str]]  # a sentence's lines, each a CoNLL line's fields (word ... tag)


def conll_documents(path: Path) -> list[list[Sentence]]:
    """A CoNLL file's documents, each a list of sentences."""
    documents: list[list[Sentence]] = []
    for block in path.read_text().split("\n\n"):
        lines = [line.split() for line in block.splitlines() if line.strip()]
        if lines and lines[0][0] == "-DOCSTART-":
            documents.append([])
            lines = lines[1:]
        if lines:
            documents[-1].append(lines)
    return documents


def retagged(sentence: Sentence, scheme: str) -> Sentence:
    """The sentence with its (IOB1 or IOB2) tags in ``scheme``."""
    from tasks.data.tag_schemes import detect_scheme, from_iob2, to_iob2

    tags = [fields[-1] for fields in sentence]
    converted = from_iob2(to_iob2(tags, detect_scheme([tags])), scheme)
    return [[*fields[:-1], tag] for fields, tag in zip(sentence, converted)]


def write_conll(path: Path, sentences: list[Sentence], scheme: str) -> None:
    blocks = ["\n".join(" ".join(fields) for fields in retagged(sentence, scheme)) for sentence in sentences]
    path.write_text("\n\n".join(blocks) + "\n")


def first_sentences(documents: list[list[Sentence]], count: int) -> list[list[Sentence]]:
    """The documents holding the first ``count`` sentences, the last one cut there."""
    kept, left = [], count
    for document in documents:
        if left <= 0:
            break
        kept.append(document[:left])
        left -= len(kept[-1])
    return kept


def joined(documents: list[list[Sentence]]) -> list[Sentence]:
    """Each document as one input: its sentences' lines one after another."""
    return [[fields for sentence in document for fields in sentence] for document in documents]


def ner_folders(scratch: Path) -> dict[str, Path]:
    """The NER runs' data folders, by run name."""
    from tasks.data.assets import embedded_conll2003_files

    files = embedded_conll2003_files()
    splits = {
        "train": first_sentences(conll_documents(files["train"]), TRAIN_SENTENCES),
        "validation": first_sentences(conll_documents(files["validation"]), VALIDATION_SENTENCES),
        "test": conll_documents(files["test"])[:TEST_DOCUMENTS],
    }
    train, validation, test = ([s for document in documents for s in document] for documents in splits.values())
    runs = {
        "sentences": ("IOB2", train, validation, test),
        "documents": ("IOB2", train, validation, joined(splits["test"])),
        "documents_throughout": ("IOB2", *(joined(documents) for documents in splits.values())),
        "iobes": ("IOBES", train, validation, test),
        "io": ("IO", train, validation, test),
        "leaked": ("IOB2", train, validation, random.Random(0).sample(train, LEAKED_SENTENCES)),
    }
    folders = {}
    for name, (scheme, *data) in runs.items():
        folder = scratch / "data" / name
        folder.mkdir(parents=True)
        for file, sentences in zip(("train.txt", "valid.txt", "test.txt"), data):
            write_conll(folder / file, sentences, scheme)
        folders[name] = folder
    return folders


def person_folder(scratch: Path) -> Path:
    """CoNLL-2003 sentences of five words or more as JSON lines, labelled ``person`` when they name one
    (a PER entity) and ``no-person`` otherwise; each split 95 % ``no-person``, 5 % ``person``, drawn
    from its own CoNLL-2003 split."""
    from tasks.data.assets import embedded_conll2003_files

    folder = scratch / "data" / "persons"
    folder.mkdir(parents=True)
    for split, path in embedded_conll2003_files().items():
        by_label = {RARE_LABEL: [], COMMON_LABEL: []}
        for sentence in (s for document in conll_documents(path) for s in document if len(s) >= 5):
            label = RARE_LABEL if any(fields[-1].endswith("-PER") for fields in sentence) else COMMON_LABEL
            by_label[label].append(" ".join(fields[0] for fields in sentence))
        count, rows = RARE_SLICE[split], []
        rare = round(count * RARE_SHARE)
        for label, n in ((COMMON_LABEL, count - rare), (RARE_LABEL, rare)):
            rows += [{"text": text, "label": label} for text in random.Random(0).sample(by_label[label], n)]
        random.Random(1).shuffle(rows)
        (folder / f"{split}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return folder


def run(scratch: Path, name: str, *options: str, cwd: Path = REPO) -> dict:
    """One cold CLI run: its figures, the gate's decision, the summary's metrics and the data report."""
    summary = scratch / "summaries" / f"{name}.json"
    summary.parent.mkdir(exist_ok=True)
    figures = timed_run(scratch / name, scratch / "hf", scratch / name / "prefect-home", summary, *options, cwd=cwd)
    result = json.loads(summary.read_text())
    steps = step_dirs(summary)
    decision, report = result["decision"], steps.get("data_report")  # none before the data report
    return {
        **figures,
        "published": decision["publish"],
        "reason": decision["reason"],
        "metrics": result["metrics"],
        "data_report": json.loads((report / "data_report.json").read_text()) if report else None,
        "step_dirs": steps,
    }


def wider_windows(steps: dict[str, Path]) -> dict[str, float]:
    """Test F1 of a run's model on its test split read in windows of 128, 256 and 512 sub-words (a
    quarter of each shared): how much more context changes its predictions."""
    import datasets
    import torch
    from transformers import AutoModelForTokenClassification

    from tasks.config.sections import TokenizationConfig
    from tasks.pretrained import load_tokenizer
    from tasks.profiles import Scoring, label_names
    from tasks.profiles.ner.evaluation import predict_words
    from tasks.scores.metrics import seqeval_scores

    model = AutoModelForTokenClassification.from_pretrained(steps["train"]).eval()
    tokenizer, rows = load_tokenizer(str(steps["train"])), datasets.load_from_disk(str(steps["load"]))["test"]
    names, labels = rows.features["ner_tags"].feature.names, label_names(model)
    gold = [[names[tag] for tag in row] for row in rows["ner_tags"]]
    figures = {}
    for length in (128, 256, 512):
        scoring = Scoring(TokenizationConfig(max_length=length), batch_size=16)
        with torch.inference_mode():
            predicted = predict_words(model, tokenizer, list(rows["tokens"]), scoring).labels
        figures[f"test_f1_windows_of_{length}"] = round(
            seqeval_scores(gold, [[labels[i] for i in row] for row in predicted])["f1"], 4
        )
    return figures


def ner_figures(scratch: Path) -> dict:
    figures = {}
    for name, folder in ner_folders(scratch).items():
        found = run(scratch, name, "--dataset", str(folder), *NER_OPTIONS, *WINDOW_BATCH.get(name, []))
        test, report = found["metrics"]["test"], found["data_report"]
        figures[name] = {
            "test_f1": round(test["f1"], 4),
            "test_inputs": test["num_sentences"],
            "test_windowed": test["windowed_sentences"],
            "published": found["published"],
            "reason": found["reason"],
            "test_over_max_length": report["splits"]["test"]["over_max_length"],
            "test_overlap_with_train": round(report["overlap"]["test"]["share"], 4),
            "wall_seconds": found["wall_seconds"],
        }
        if name == "documents":
            figures[name].update(wider_windows(found["step_dirs"]))
    return figures


def class_weight_figures(scratch: Path) -> dict:
    folder, figures = person_folder(scratch), {}
    for weights in ("none", "balanced"):
        found = run(
            scratch,
            f"persons-{weights}",
            "--task",
            "sequence-classification",
            "--dataset",
            str(folder),
            "--class-weights",
            weights,
            "--max-train-samples",
            "none",
        )
        test = found["metrics"]["test"]
        figures[weights] = {
            "rare_class_f1": round(test["per_class"][RARE_LABEL]["f1"], 4),
            "rare_class_precision": round(test["per_class"][RARE_LABEL]["precision"], 4),
            "rare_class_recall": round(test["per_class"][RARE_LABEL]["recall"], 4),
            "macro_f1": round(test["macro_f1"], 4),
            "accuracy": round(test["accuracy"], 4),
            "published": found["published"],
            "wall_seconds": found["wall_seconds"],
        }
    return figures


def data_report_seconds() -> dict:
    """The data report's time over all of CoNLL-2003 (every split), the tokenizer already loaded."""
    from tasks.config.sections import DataConfig, ModelConfig
    from tasks.data.assets import EMBEDDED_CONLL2003
    from tasks.data.sources import read_source, resolve_dataset
    from tasks.pretrained import load_tokenizer, resolve_model
    from tasks.profiles import profile_of
    from tasks.steps.data_report import data_report
    from tasks.steps.load import normalize

    data = DataConfig(dataset=EMBEDDED_CONLL2003, max_train_samples=None)
    source = resolve_dataset(data)
    splits = dict(normalize(read_source(source, data).splits, source, data, "ner")[0])
    tokenizer = load_tokenizer(resolve_model(ModelConfig()))
    started = time.perf_counter()
    data_report(splits, profile_of("ner").data_report, tokenizer, 128)
    seconds = time.perf_counter() - started
    return {"sentences": {split: len(rows) for split, rows in splits.items()}, "seconds": round(seconds, 2)}


def default_runs(scratch: Path, before: str) -> dict:
    """The default run at ``before`` and at this checkout, one after the other."""
    with checkout(before, scratch) as worktree:
        runs = {"before": run(scratch, "default-before", cwd=worktree), "after": run(scratch, "default-after")}
    return {
        name: {
            "commit": commit,
            "wall_seconds": found["wall_seconds"],
            "test_f1": round(found["metrics"]["test"]["f1"], 4),
            "steps": {step: row["seconds"] for step, row in found["steps"].items()},
        }
        for (name, found), commit in zip(runs.items(), (before, "this checkout"))
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", default=BEFORE, help="the commit whose default run is the 'before' figure")
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "results" / "users_data.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="finetune-users-") as scratch:
        scratch = Path(scratch)
        figures = {
            "ner": ner_figures(scratch),
            "class_weights": class_weight_figures(scratch),
            "data_report": data_report_seconds(),
            "default_run": default_runs(scratch, args.before),
            "cpu_count": os.cpu_count(),
        }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    ner, weights, default = figures["ner"], figures["class_weights"], figures["default_run"]
    print(
        f"test F1: sentences {ner['sentences']['test_f1']}, documents {ner['documents']['test_f1']}, documents "
        f"throughout {ner['documents_throughout']['test_f1']} (goal: within 0.01), IOBES {ner['iobes']['test_f1']}, IO {ner['io']['test_f1']} (goal: equal to sentences)"
    )
    print(f"leaked test split: published {ner['leaked']['published']}: {ner['leaked']['reason']}")
    print(
        f"rare class F1: none {weights['none']['rare_class_f1']}, balanced {weights['balanced']['rare_class_f1']}; "
        f"macro F1: none {weights['none']['macro_f1']}, balanced {weights['balanced']['macro_f1']}"
    )
    print(f"data report over all of CoNLL-2003: {figures['data_report']['seconds']} s (goal: under 5)")
    print(f"default run: before {default['before']['wall_seconds']} s, after {default['after']['wall_seconds']} s")


if __name__ == "__main__":
    main()

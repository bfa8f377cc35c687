"""Benchmark reading each sentence with the sentences around it (--context), over several seeds.

    python benchmarks/context.py [--seeds 42 0 1] [--contexts 0 64] [--output benchmarks/results/context.json]

For each seed and context, one cold default run (`python -m flows.finetune --seed S --context C`: 6,000
training sentences of whole CoNLL-2003 documents, one epoch, the embedded model), then its model scores the
231 test documents twice: as sentences (the evaluate step's test F1: each sentence a row, its document's
neighbours as context) and each document as one input (its words in one row, read a sentence at a time with
the same context). Training tokens are the sub-words of the tokenized training split, context included.
Compare figures from one run of this script only: machines of one kind differ by up to half in speed.
"""

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from default_run import REPO, step_dirs, timed_run, training_figures
from predict import cpu_name

SEEDS, CONTEXTS = (42, 0, 1), (0, 64)  # 42: the default seed, so that its context-0 run is the default run


def documents_as_one_input(steps: dict[str, Path], context: int) -> float:
    """Test F1 of the run's model on each test document given as one input, read with ``context``."""
    import datasets
    import torch
    from transformers import AutoModelForTokenClassification

    from tasks.config.sections import TokenizationConfig
    from tasks.data.context import DOCUMENT
    from tasks.pretrained import load_tokenizer
    from tasks.profiles import Scoring, label_names
    from tasks.profiles.ner.evaluation import predict_words
    from tasks.scores.metrics import seqeval_scores

    model = AutoModelForTokenClassification.from_pretrained(steps["train"]).eval()
    tokenizer, rows = load_tokenizer(str(steps["train"])), datasets.load_from_disk(str(steps["load"]))["test"]
    names, labels = rows.features["ner_tags"].feature.names, label_names(model)
    words: dict[int, list[str]] = {}
    gold: dict[int, list[str]] = {}
    for document, tokens, tags in zip(rows[DOCUMENT], rows["tokens"], rows["ner_tags"]):
        words.setdefault(document, []).extend(tokens)
        gold.setdefault(document, []).extend(names[tag] for tag in tags)
    scoring = Scoring(TokenizationConfig(context=context), batch_size=64)
    with torch.inference_mode():
        predicted = predict_words(model, tokenizer, list(words.values()), scoring).labels
    return round(seqeval_scores(list(gold.values()), [[labels[i] for i in row] for row in predicted])["f1"], 4)


def training_tokens(steps: dict[str, Path]) -> int:
    import datasets

    return sum(map(len, datasets.load_from_disk(str(steps["tokenize"]))["train"]["input_ids"]))


def one_run(scratch: Path, seed: int, context: int) -> dict:
    name = f"seed{seed}-context{context}"
    summary = scratch / f"{name}.json"
    options = ["--seed", str(seed), "--context", str(context)]
    figures = timed_run(scratch / name, scratch / "hf", scratch / name / "prefect-home", summary, *options)
    steps = step_dirs(summary)
    trained = training_figures(summary)
    return {
        "seed": seed,
        "context": context,
        "train_seconds": trained["train_seconds"],
        "evaluation_seconds": trained["evaluation_seconds"],
        "train_sentences": trained["train_sentences"],
        "training_tokens": training_tokens(steps),
        "test_f1_sentences": figures["test_f1"],
        "test_f1_documents_as_one_input": documents_as_one_input(steps, context),
        **figures,
    }


def summarised(runs: list[dict], context: int) -> dict:
    """Mean and spread over the seeds of one context's runs."""
    mine = [run for run in runs if run["context"] == context]
    figures = {}
    for name in (
        "test_f1_sentences",
        "test_f1_documents_as_one_input",
        "wall_seconds",
        "train_seconds",
        "training_tokens",
    ):
        values = [run[name] for run in mine]
        figures[name] = {"mean": round(statistics.mean(values), 4), "min": min(values), "max": max(values)}
    gaps = [run["test_f1_sentences"] - run["test_f1_documents_as_one_input"] for run in mine]
    figures["documents_below_sentences"] = {"mean": round(statistics.mean(gaps), 4), "max": round(max(gaps), 4)}
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    parser.add_argument("--contexts", type=int, nargs="+", default=list(CONTEXTS))
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "results" / "context.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="finetune-context-") as scratch:
        runs = [one_run(Path(scratch), seed, context) for seed in args.seeds for context in args.contexts]
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{os.cpu_count()} cores, {cpu_name()}",
        "runs": runs,
        "by_context": {str(context): summarised(runs, context) for context in args.contexts},
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    for context, figures in result["by_context"].items():
        print(
            f"context {context}: test F1 sentences {figures['test_f1_sentences']['mean']}, documents as one input "
            f"{figures['test_f1_documents_as_one_input']['mean']} (below by {figures['documents_below_sentences']['mean']}, "
            f"at most {figures['documents_below_sentences']['max']}; goal: within 0.01), training tokens "
            f"{figures['training_tokens']['mean']:.0f}, wall {figures['wall_seconds']['mean']} s"
        )


if __name__ == "__main__":
    main()

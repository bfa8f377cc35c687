"""Benchmark full precision against bf16 autocast on this machine's CPU: training steps and inference
batches of the embedded MiniLM with a token-classification head, on real CoNLL-2003 sentences.

    python benchmarks/precision.py [--steps 3] [--batches 3] [--output benchmarks/results/precision.json]

A training step is forward, backward and the fused AdamW update on 16 training sentences; an inference
batch, a forward pass without gradients over 64 validation sentences (the default batch sizes). The
sentences are tokenized and batched as the pipeline does, by similar lengths. Both precisions start from
the same weights and take the same batches twice, timed the second time (a batch shape's first pass builds
its kernels and buffers). Prints and writes the seconds per step and per batch in each precision, bf16's
speed-up (below 1: slower), and the CPU: its name, whether it has AMX for bf16 and avx512_bf16 (its
/proc/cpuinfo flags), torch's CPU capability, and what --mixed-precision auto picks on it. Without AMX,
bf16 is many times slower: the defaults took 72 s on a 2-core AMD EPYC.
"""

import argparse
import copy
import json
import os
import statistics
import subprocess
import time
from functools import partial
from pathlib import Path

import torch
from default_run import REPO
from predict import cpu_name
from transformers import DataCollatorForTokenClassification

from tasks.config.sections import DataConfig, ModelConfig, TokenizationConfig
from tasks.config.training import TrainingConfig
from tasks.console import set_console
from tasks.data.assets import EMBEDDED_CONLL2003
from tasks.data.sources import read_source, resolve_dataset
from tasks.engines.common import load_model
from tasks.hardware import AMX_BF16, autocast, cpu_flags, resolve_precision
from tasks.pretrained import load_tokenizer, resolve_model
from tasks.profiles.ner.tokenization import tokenize
from tasks.steps.load import normalize

CPU = torch.device("cpu")
PRECISIONS = {"fp32": "no", "bf16": "bf16"}
DEFAULTS = TrainingConfig.model_fields
TRAIN_BATCH, INFERENCE_BATCH = DEFAULTS["batch_size"].default, DEFAULTS["eval_batch_size"].default
MEASURES = {"train_seconds_per_step": "training step", "inference_seconds_per_batch": "inference batch"}


def conll_batches(steps: int, inference_batches: int) -> tuple[list[dict], list[dict], list[str]]:
    """Padded batches of training and of validation sentences, and the labels. Training and evaluation both
    batch sentences of similar lengths: a seeded sample of each split, sorted by length and cut into batches,
    so the batches span its lengths, short to long."""
    data = DataConfig(dataset=EMBEDDED_CONLL2003, max_train_samples=None)
    source = resolve_dataset(data)
    dataset, labels, _ = normalize(read_source(source, data).splits, source, data, "ner")
    tokenizer = load_tokenizer(resolve_model(ModelConfig()))
    collate = DataCollatorForTokenClassification(tokenizer)

    def batches(split: str, size: int, count: int) -> list[dict]:
        rows = tokenize(
            dataset[split].shuffle(seed=0).select(range(size * count)), tokenizer, labels, TokenizationConfig(), split
        ).rows
        order = sorted(range(len(rows)), key=lambda row: len(rows[row]["input_ids"]))[: size * count]
        return [collate([rows[i] for i in order[start : start + size]]) for start in range(0, size * count, size)]

    return batches("train", TRAIN_BATCH, steps), batches("validation", INFERENCE_BATCH, inference_batches), labels


def timed(run, batches: list[dict]) -> tuple[list[float], list]:
    """Seconds and result of ``run`` on each batch, in a second pass: a batch shape's first step was several
    times as slow as its next here (kernels and buffers made for it), a cost a whole epoch spreads thin."""
    for batch in batches:
        run(batch)
    seconds, results = [], []
    for batch in batches:
        started = time.perf_counter()
        results.append(run(batch))
        seconds.append(time.perf_counter() - started)
    return seconds, results


def train_step(model, optimizer, precision: str, batch: dict) -> float:
    with autocast(CPU, precision):
        loss = model(**batch).loss
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    return loss.item()


def infer(model, precision: str, batch: dict) -> None:
    with torch.inference_mode(), autocast(CPU, precision):
        model(**batch)


def per_precision(pretrained, steps: list[dict], inputs: list[dict]) -> dict:
    """Each precision's seconds per training step and inference batch, from copies of the same weights."""
    figures = {}
    for name, precision in PRECISIONS.items():
        model = copy.deepcopy(pretrained).train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=2e-4, weight_decay=0.01, fused=True)
        seconds, losses = timed(partial(train_step, model, optimizer, precision), steps)
        inference, _ = timed(partial(infer, copy.deepcopy(pretrained).eval(), precision), inputs)
        figures[name] = {
            "train_seconds_per_step": round(statistics.mean(seconds), 3),
            "mean_train_loss": round(statistics.mean(losses), 4),
            "inference_seconds_per_batch": round(statistics.mean(inference), 3),
        }
        print(
            f"{name}: training step {figures[name]['train_seconds_per_step']} s, inference batch "
            f"{figures[name]['inference_seconds_per_batch']} s",
            flush=True,
        )
    return figures


def cpu_facts() -> dict:
    flags = cpu_flags()
    return {
        "model_name": cpu_name(),
        "amx_bf16": AMX_BF16 <= flags,
        "avx512_bf16": "avx512_bf16" in flags,
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "auto_resolves_to": resolve_precision("auto"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3, help="timed training steps in each precision")
    parser.add_argument("--batches", type=int, default=3, help="timed inference batches in each precision")
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "results" / "precision.json")
    args = parser.parse_args()
    set_console(verbose=False)
    steps, inputs, labels = conll_batches(args.steps, args.batches)
    torch.manual_seed(0)  # the new head's weights
    figures = per_precision(load_model(resolve_model(ModelConfig()), labels, "ner"), steps, inputs)
    speedup = {measure: round(figures["fp32"][measure] / figures["bf16"][measure], 3) for measure in MEASURES}
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{os.cpu_count()} cores, {cpu_name()}",
        "cpu": cpu_facts(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip(),
        "timed_train_steps": args.steps,
        "train_batch_size": TRAIN_BATCH,
        "timed_inference_batches": args.batches,
        "inference_batch_size": INFERENCE_BATCH,
        **figures,
        "bf16_speedup": speedup,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    for measure, name in MEASURES.items():
        print(
            f"{name}: fp32 {figures['fp32'][measure]} s, bf16 {figures['bf16'][measure]} s: bf16 {speedup[measure]}x "
            f"as fast ({1 / speedup[measure]:.1f} times as long)"
        )
    facts = result["cpu"]
    print(
        f"{result['machine']}: AMX for bf16 {facts['amx_bf16']}, avx512_bf16 {facts['avx512_bf16']}, torch CPU "
        f"capability {facts['torch_cpu_capability']}; --mixed-precision auto picks {facts['auto_resolves_to']}"
    )


if __name__ == "__main__":
    main()

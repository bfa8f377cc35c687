"""GPU benchmark: fine-tune a model on the full CoNLL-2003 training split through the pipeline and
report wall time, training tokens per second and model FLOPs utilisation (MFU).

    python benchmarks/gpu.py --model bert-base-cased [--epochs 3] [--batch-size 32] [--learning-rate 5e-5]
    python benchmarks/gpu.py --model ./tiny --dataset ./conll-sample --epochs 1   # a CPU smoke check

One `python -m flows.finetune` process, mixed precision `auto` (bf16 on GPUs that have it).
Tokens are the non-padding tokens of the tokenized training split times the epochs; a training
step costs about 6 FLOPs per parameter per token plus the attention's 12 x layers x hidden x
sequence length (the PaLM paper's accounting). MFU divides the achieved FLOPs per second by the
device's peak dense bf16/fp16 tensor FLOPs: known GPUs by name, or `--peak-tflops`; on a CPU it is
reported only when `--peak-tflops` is given. The goal on one GPU: < 60 s for a bert-base-size
model at >= 35 % MFU.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from default_run import REPO, run_env, step_dirs

# Peak dense bf16 tensor TFLOPS by device name (vendors' data sheets, without sparsity).
PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "L4": 121.0, "A10": 125.0, "4090": 165.0}


def peak_tflops(given: float | None) -> tuple[str, float | None]:
    import torch

    if not torch.cuda.is_available():
        return "cpu", given
    name = torch.cuda.get_device_name(0)
    known = next((peak for key, peak in PEAK_TFLOPS.items() if key in name), None)
    return name, given or known


def training_tokens(tokenized_dir: Path) -> tuple[int, float]:
    """Non-padding tokens of the training split, and its mean sequence length."""
    import datasets

    lengths = [len(ids) for ids in datasets.load_from_disk(str(tokenized_dir))["train"]["input_ids"]]
    return sum(lengths), sum(lengths) / len(lengths)


def flops_per_token(model_dir: Path, sequence_length: float) -> float:
    """Training FLOPs per token: 6 per parameter, plus attention over the sequence."""
    from transformers import AutoConfig, AutoModelForTokenClassification

    config = AutoConfig.from_pretrained(model_dir)
    parameters = sum(p.numel() for p in AutoModelForTokenClassification.from_pretrained(model_dir).parameters())
    return 6 * parameters + 12 * config.num_hidden_layers * config.hidden_size * sequence_length


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="Hub id or local directory of the encoder to fine-tune.")
    parser.add_argument("--dataset", default="embedded:conll2003", help="CoNLL-2003 by default (all of train).")
    parser.add_argument("--epochs", type=float, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--peak-tflops", type=float, help="The device's peak dense TFLOPS, when it is not known.")
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "results" / "gpu.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="finetune-gpu-") as scratch:
        summary_path = Path(scratch) / "summary.json"
        command = [
            sys.executable,
            "-m",
            "flows.finetune",
            "--model",
            args.model,
            "--dataset",
            args.dataset,
            "--max-train-samples",
            "none",
            "--epochs",
            str(args.epochs),
            "--batch-size",
            str(args.batch_size),
            "--learning-rate",
            str(args.learning_rate),
            "--artifacts-dir",
            str(Path(scratch) / "artifacts"),
            "--summary-json",
            str(summary_path),
        ]
        env = run_env(Path(scratch) / "prefect-home")
        started = time.perf_counter()
        subprocess.run(command, cwd=REPO, env=env, check=True)
        wall = time.perf_counter() - started
        summary = json.loads(summary_path.read_text())
        steps = step_dirs(summary_path)
        trained = json.loads((steps["train"] / "train_summary.json").read_text())
        tokens, mean_length = training_tokens(steps["tokenize"])
        per_token = flops_per_token(steps["train"], mean_length)
    device, peak = peak_tflops(args.peak_tflops)
    tokens_per_second = tokens * args.epochs / trained["train_seconds"]
    figures = {
        "model": args.model,
        "device": device,
        "mixed_precision": trained["mixed_precision"],
        "epochs": args.epochs,
        "train_sentences": trained["num_rows"]["train"],
        "wall_seconds": round(wall, 1),
        "train_seconds": trained["train_seconds"],
        "training_tokens_per_second": round(tokens_per_second),
        "flops_per_token": round(per_token),
        "peak_tflops": peak,
        "mfu": round(tokens_per_second * per_token / (peak * 1e12), 4) if peak else None,
        "test_f1": round(summary["metrics"]["test"]["f1"], 4),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(figures, indent=2) + "\n")
    mfu = f"{figures['mfu']:.1%}" if figures["mfu"] is not None else "n/a (no peak FLOPS for this device)"
    print(
        f"{args.model} on {device} ({figures['mixed_precision']}): wall {figures['wall_seconds']} s, training "
        f"{figures['train_seconds']} s, {figures['training_tokens_per_second']} training tokens/s, MFU {mfu}, "
        f"test F1 {figures['test_f1']}"
    )


if __name__ == "__main__":
    main()

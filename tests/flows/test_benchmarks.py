"""The GPU benchmark's smoke check on this machine: it runs the pipeline end to end on a tiny model
and reports its figures (MFU against a stated peak, since a CPU has none in the table)."""

import json
import subprocess
import sys

import pytest

from conftest import REPO

pytestmark = pytest.mark.slow


def test_the_gpu_benchmark_runs_on_cpu_as_a_smoke_check(tiny_model, conll_sample, tmp_path):
    output = tmp_path / "gpu.json"
    command = [
        sys.executable,
        "benchmarks/gpu.py",
        "--model",
        str(tiny_model),
        "--dataset",
        str(conll_sample),
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--learning-rate",
        "1e-3",
        "--peak-tflops",
        "1",
        "--output",
        str(output),
    ]
    finished = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr[-2000:]
    figures = json.loads(output.read_text())
    assert (figures["device"], figures["train_sentences"], figures["peak_tflops"]) == ("cpu", 48, 1.0)
    assert figures["training_tokens_per_second"] > 0 and 0 < figures["mfu"] < 1
    assert 0 <= figures["test_f1"] <= 1
    assert f"training tokens/s, MFU {figures['mfu']:.1%}" in finished.stdout

"""What a run prints: a screen of readable lines by default, the libraries' own output with --verbose."""

import os
import re
import subprocess
import sys

import pytest

from conftest import REPO
from tasks.console import QUIET_LIBRARIES, VERBOSE, set_console
from tasks.engines.common import load_model
from tasks.pretrained import ModelSource

# What the libraries print on their own: datasets' bars, transformers' load report, the Trainer's metric dicts.
LIBRARY_OUTPUT = ("Map:", "Saving the dataset", "LOAD REPORT", "{'eval_loss'", "{'train_runtime'")
COMPLETED_TASK_RUN = re.compile(r"Task run '[^']+' - Finished in state Completed\(\)")


def run_cli(*args: str) -> tuple[str, str]:
    """The run's stdout and stderr as a terminal gets them: a bar's redraws (\r) are not new lines."""
    from prefect.settings import PREFECT_API_URL

    # As a user's shell has it: without the switches a flow run in this process set (`set_console`).
    env = {name: value for name, value in os.environ.items() if name not in (*QUIET_LIBRARIES, VERBOSE)}
    env["PREFECT_API_URL"] = PREFECT_API_URL.value() or ""
    command = [sys.executable, "-m", "flows.finetune", *args]
    finished = subprocess.run(command, cwd=REPO, env=env, capture_output=True, timeout=300)
    stdout, stderr = finished.stdout.decode(), finished.stderr.decode()
    assert finished.returncode == 0, stderr[-3000:]
    return stdout, stderr


@pytest.mark.slow
def test_a_run_prints_a_line_per_step_and_per_evaluation_and_verbose_restores_the_rest(
    prefect_server, tiny_model, conll_sample, tmp_path
):
    options = (
        "--model",
        str(tiny_model),
        "--dataset",
        str(conll_sample),
        "--artifacts-dir",
        str(tmp_path / "artifacts"),
        "--max-train-samples",
        "none",
        "--batch-size",
        "8",
        "--eval-batch-size",
        "16",
        "--epochs",
        "2",
    )
    stdout, stderr = run_cli(*options)
    printed = (stdout + stderr).rstrip("\n").split("\n")
    assert len(printed) <= 30, "\n".join(printed)
    assert not [line for line in printed if any(noise in line for noise in LIBRARY_OUTPUT)]
    assert not [line for line in printed if COMPLETED_TASK_RUN.search(line)]
    for name in ("load", "data_report", "tokenize", "train", "evaluate", "check", "release"):
        assert sum(f"Step {name} ran in " in line for line in printed) == 1, name
    assert [line.split(" - ")[-1][:29] for line in printed if "Validation at epoch" in line] == [
        "Validation at epoch 1.00: F1 ",
        "Validation at epoch 2.00: F1 ",
    ]
    assert sum(line.startswith("Steps:    load ") for line in stdout.split("\n")) == 1

    everything = "".join(run_cli(*options, "--refresh", "--verbose"))
    assert [noise for noise in LIBRARY_OUTPUT if noise not in everything] == []
    assert COMPLETED_TASK_RUN.search(everything)


def test_a_base_model_lacking_encoder_weights_is_named_but_not_the_new_head(tiny_model, tmp_path, capfd):
    from safetensors.torch import load_file, save_file

    set_console(verbose=False)  # as a run sets it: transformers' own report and bars quiet
    load_model(ModelSource(kind="local", location=str(tiny_model)), ["O", "B-PER", "I-PER"], "ner")
    assert capfd.readouterr().err == ""  # the new head's weights are missing, as always: nothing to say

    damaged = tmp_path / "damaged"
    damaged.mkdir()
    for file in tiny_model.iterdir():
        (damaged / file.name).write_bytes(file.read_bytes())
    weights = load_file(damaged / "model.safetensors")
    del weights["encoder.layer.0.attention.self.query.weight"]
    save_file(weights, damaged / "model.safetensors", metadata={"format": "pt"})
    load_model(ModelSource(kind="local", location=str(damaged)), ["O", "B-PER", "I-PER"], "ner")
    assert capfd.readouterr().err == (
        f"warning: {damaged} has no weights for 1 of the encoder's parameters "
        "(bert.encoder.layer.0.attention.self.query.weight): they start random\n"
    )

"""A full disk: the artifacts directory on a small tmpfs the test mounts. The step that runs out of space
fails in one line naming the directory, the artifacts already written stay complete, and the next run,
with space, takes them from cache and completes."""

import subprocess

import pytest

from flows.finetune import finetune
from tasks.config.finetune import FinetuneConfig
from tasks.errors import PipelineError
from tasks.storage.artifacts import is_complete

pytestmark = pytest.mark.slow


@pytest.fixture
def small_disk(tmp_path):
    """A 3 MB tmpfs: the data, its report and the tokenized data fit, the tiny model (4 MB) does not."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(disk)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"this machine cannot mount a tmpfs: {mounted.stderr.strip()}")
    yield disk
    subprocess.run(["umount", "--lazy", str(disk)], check=True)  # this process still maps Arrow files there


def test_a_full_disk_fails_the_step_in_one_line_and_the_next_run_with_space_completes(
    prefect_server, tiny_model, conll_sample, small_disk
):
    artifacts = small_disk / "artifacts"
    config = FinetuneConfig(
        model=str(tiny_model),
        dataset=str(conll_sample),
        artifacts_dir=artifacts,
        max_train_samples=None,
        batch_size=8,
        eval_batch_size=16,
        learning_rate=1e-3,
    )
    with pytest.raises(PipelineError) as failed:
        finetune(config)
    message = str(failed.value)
    assert message.startswith(f"no space left on the device of {artifacts / 'model'} while writing the model step's")
    assert "\n" not in message and "the artifacts already written are intact" in message
    written = {
        step: [path for path in (artifacts / step).iterdir() if not path.name.startswith(".")]
        for step in ("dataset", "data_report", "tokenized")
    }
    assert all(len(paths) == 1 and is_complete(paths[0]) for paths in written.values())
    assert not list(artifacts.rglob("*.partial-*")), "the partial model was removed"
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    summary = finetune(config)
    assert [step.name for step in summary.steps if step.cached] == ["load", "data_report", "tokenize"]
    assert is_complete(
        artifacts / "model" / next(p.name for p in (artifacts / "model").iterdir() if not p.name.startswith("."))
    )

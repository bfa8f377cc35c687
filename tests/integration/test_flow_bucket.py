"""The whole flow with its artifacts directory in a bucket (moto's S3 server on 127.0.0.1)."""

import json
import shutil

import pytest

from flows.cli import format_summary
from flows.finetune import finetune
from tasks.config.finetune import FinetuneConfig
from tasks.scores.quality_gate import registry_published
from tasks.storage import buckets
from tasks.storage.artifacts import is_finished, read_artifact, read_artifact_json
from tasks.storage.catalog import FOLDERS, USED

pytestmark = pytest.mark.slow

STEPS = ["load", "data_report", "tokenize", "train", "evaluate", "check", "release"]


def test_a_run_keeps_every_artifact_in_the_bucket_and_a_rerun_on_a_wiped_machine_takes_them_all_from_it(
    prefect_server, tiny_model, conll_sample, bucket, staging
):
    config = FinetuneConfig(
        model=str(tiny_model),
        dataset=str(conll_sample),
        artifacts_dir=bucket,
        max_train_samples=None,
        batch_size=8,
        eval_batch_size=16,
        learning_rate=1e-3,
    )
    first = finetune(config)
    assert [step.name for step in first.steps] == STEPS and not any(step.cached for step in first.steps)
    for step in first.steps:
        assert step.path.startswith(f"{bucket}/{FOLDERS[step.name]}/") and is_finished(step.path)
    assert first.model_dir == first.steps[-1].path and first.decision.publish
    card = read_artifact(first.model_dir, "README.md").decode()
    assert "## Evaluation" in card and "model.safetensors" in buckets.committed(first.model_dir)["files"]
    assert registry_published(bucket, f"{tiny_model.name}-finetuned-ner").release_dir == first.model_dir
    assert first.transferred_bytes["uploaded"] > 0 and first.transferred_bytes["downloaded"] == 0

    shutil.rmtree(staging)  # another machine, or this one with its staging directory wiped
    again = finetune(config)
    assert [step.cached for step in again.steps] == [True] * len(STEPS)
    assert again.model_dir == first.model_dir and again.metrics == first.metrics
    assert all(USED in buckets.objects(step.path) for step in again.steps), "each reuse is noted, for retention"
    assert again.transferred_bytes["uploaded"] == 0
    model_bytes = sum(buckets.committed(first.steps[3].path)["files"].values())
    assert again.transferred_bytes["downloaded"] < model_bytes
    downloaded = f"{again.transferred_bytes['downloaded'] / 1e6:.1f} MB downloaded"
    assert f"Bucket:   0.0 MB uploaded, {downloaded}" in format_summary(config.task, again).splitlines()
    assert json.loads(json.dumps(read_artifact_json(first.model_dir, "metrics.json"))) == first.metrics

"""A leaked test split, end to end: the gate refuses to publish it, and publishes it only when forced."""

import json
from pathlib import Path

import pytest

from conftest import leaked_folder
from tasks.config.finetune import FinetuneConfig
from tasks.steps.data_report import training_distribution
from tasks.storage.catalog import DATA_REPORT


@pytest.mark.slow
def test_a_leaked_test_split_is_not_published_unless_forced(prefect_server, tiny_model, conll_sample, tmp_path, caplog):
    import logging

    from flows.finetune import finetune

    config = FinetuneConfig(
        model=str(tiny_model),
        dataset=str(leaked_folder(conll_sample, tmp_path / "leaked")),
        artifacts_dir=tmp_path / "artifacts",
        max_train_samples=None,
        batch_size=16,
        eval_batch_size=16,
        learning_rate=1e-3,
        max_overlap=0.01,
    )
    logging.getLogger("prefect.flow_runs").addHandler(caplog.handler)
    try:
        refused = finetune(config)
    finally:
        logging.getLogger("prefect.flow_runs").removeHandler(caplog.handler)
    reason = (
        "100.0 % of the test split's sentences also appear in train (over --max-overlap 1 %): a leaked split's "
        "score says nothing about new data"
    )
    assert not refused.decision.publish and refused.decision.reason == reason
    assert "Data: sentences that also appear in train: test 16 of 16 (100.0 %)." in caplog.messages
    assert f"Not publishing: {reason}" in caplog.messages
    [entry] = json.loads((config.artifacts_dir / "registry.json").read_text()).values()
    assert entry["published"] is None
    assert entry["history"][0]["decision"]["data"]["overlap"] == 1.0
    assert [step.name for step in refused.steps][:3] == ["load", "data_report", "tokenize"]

    forced = finetune(config.model_copy(update={"force_publish": True}))
    assert forced.decision.publish and forced.decision.forced
    assert forced.decision.reason == f"published by --force-publish although {reason}"
    assert [step.name for step in forced.steps if not step.cached] == ["release"]
    card = (Path(forced.model_dir) / "README.md").read_text()
    assert f"Published by --force-publish although {reason} (margin 0.0, floor 0.1)." in card
    assert "| test | 16 | 0 | 16 (100.0 %) | 0 |" in card
    [entry] = json.loads((config.artifacts_dir / "registry.json").read_text()).values()
    assert entry["published"]["decision"]["data"]["overlap"] == 1.0
    report = json.loads((Path(forced.steps[1].path) / DATA_REPORT).read_text())
    assert entry["published"]["label_distribution"] == training_distribution(report)
    assert set(training_distribution(report)) == {"LOC", "MISC", "ORG", "PER"}

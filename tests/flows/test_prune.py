"""Retention on a folder of real runs: three releases of the tiny model (the first published), pruned to the
last one besides the published. A dry run removes nothing; --apply removes the rest and what only it was
made from, never an artifact in use or too young, and the registry marks what it removed."""

import json
import os
import time
from pathlib import Path

import pytest

from flows.finetune import finetune
from flows.prune import PruneConfig, prune
from tasks.config.finetune import FinetuneConfig
from tasks.storage.artifacts import is_complete
from tasks.storage.locks import artifact_lock
from tasks.storage.retention import freed_bytes, kept_releases

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def season(prefect_server, tiny_model, conll_sample, tmp_path_factory):
    """Three runs on one artifacts folder, by learning rate: the first publishes, the others are kept out.
    The tests below prune it in turn."""
    tmp_path, runs = tmp_path_factory.mktemp("season"), {}
    for learning_rate in (1e-3, 3e-3, 2e-3):
        config = FinetuneConfig(
            model=str(tiny_model),
            dataset=str(conll_sample),
            artifacts_dir=tmp_path / "artifacts",
            max_train_samples=None,
            batch_size=8,
            eval_batch_size=16,
            learning_rate=learning_rate,
        )
        runs[learning_rate] = (config, finetune(config))
    return tmp_path / "artifacts", runs


def step_dir(summary, name: str) -> Path:
    return Path(next(step.path for step in summary.steps if step.name == name))


def test_prune_keeps_the_published_and_last_releases_with_what_they_were_made_from(season):
    artifacts, runs = season
    published, dropped, last = (runs[rate][1] for rate in (1e-3, 3e-3, 2e-3))
    listed = prune(PruneConfig(artifacts_dir=artifacts, keep=1, min_age_hours=0))
    only_dropped = {step_dir(dropped, name) for name in ("train", "evaluate", "check", "release")}
    assert {Path(removal.path) for removal in listed.plan.remove} == only_dropped
    assert listed.removed == [] and all(path.exists() for path in only_dropped), "a dry run removes nothing"
    assert listed.plan.freed_bytes > 4_000_000  # the tiny model's weights, once: the release holds hard links

    applied = prune(PruneConfig(artifacts_dir=artifacts, keep=1, min_age_hours=0, apply=True))
    assert {Path(path) for path in applied.removed} == only_dropped and not any(path.exists() for path in only_dropped)
    for summary in (published, last):
        for name in ("load", "data_report", "tokenize", "train", "evaluate", "check", "release"):
            assert is_complete(step_dir(summary, name))
    registry = json.loads((artifacts / "registry.json").read_text())
    [entry] = registry.values()
    assert [release.get("pruned", False) for release in entry["history"]] == [False, True, False]
    reused_from = time.time() - 1
    again = finetune(runs[2e-3][0])
    assert all(step.cached for step in again.steps), "the kept run's every step is still cached"
    assert step_dir(last, "tokenize").stat().st_mtime >= reused_from, "a reused artifact is touched: its last use"


def test_what_a_running_flow_holds_or_what_is_young_is_never_removed(season):
    """After the test above: keeping no release but the published one, the last run's model is in use."""
    artifacts, runs = season
    last = runs[2e-3][1]
    held = step_dir(last, "train")
    with artifact_lock(held):
        applied = prune(PruneConfig(artifacts_dir=artifacts, keep=0, min_age_hours=0, apply=True))
    assert applied.plan.held == [str(held)] and held.exists()
    assert not step_dir(last, "release").exists() and is_complete(step_dir(runs[1e-3][1], "release"))
    young = prune(PruneConfig(artifacts_dir=artifacts, keep=0, min_age_hours=1, apply=True))
    assert young.removed == [] and young.plan.young == [str(held)], "it is minutes old"


def test_kept_releases_and_freed_bytes(tmp_path):
    history = [{"release_dir": f"/r/{n}"} for n in range(5)]
    history[3]["pruned"] = True
    registry = {
        "a": {"published": {"release_dir": "/r/1"}, "history": history},
        "b": {"published": None, "history": []},
    }
    assert kept_releases(registry, 2) == ["/r/1", "/r/2", "/r/4"]
    assert kept_releases(registry, 0) == ["/r/1"]
    (tmp_path / "kept").mkdir()
    (tmp_path / "gone").mkdir()
    (tmp_path / "gone" / "weights").write_bytes(b"\0" * 1000)
    (tmp_path / "gone" / "card").write_bytes(b"\0" * 10)
    os.link(tmp_path / "gone" / "weights", tmp_path / "kept" / "weights")
    assert freed_bytes([tmp_path / "gone"]) == 10  # the weights stay linked from a kept folder
    assert freed_bytes([tmp_path / "gone", tmp_path / "kept"]) == 1010

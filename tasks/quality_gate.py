"""The quality gate of a retraining run: publish the new model (the challenger) only when it
beats the published one (the champion) on the same data, split and metric by a margin.

The champion's score comes from its card's metadata (`model-index`), on the Hub or in the local
registry of releases kept under the artifacts directory when there is no Hub repo.
"""

from pathlib import Path

import yaml
from pydantic import BaseModel

from tasks.artifacts import file_lock, read_json, replace_json

REGISTRY = "registry.json"
GATE_METRIC = "f1"


class Score(BaseModel):
    dataset: str  # the name cards show: a Hub id, or the file, folder or embedded name
    fingerprint: str | None = None  # content fingerprint of the evaluated split: the data's identity
    split: str
    metric: str
    value: float


class Decision(BaseModel):
    publish: bool
    reason: str
    challenger: Score
    champion: Score | None
    margin: float


def card_score(card: str, metric: str = GATE_METRIC) -> Score | None:
    """The score a model card's metadata states for ``metric``, or None when it states none."""
    if not card.startswith("---\n"):
        return None
    try:
        metadata = yaml.safe_load(card.split("---\n", 2)[1]) or {}
        result = metadata["model-index"][0]["results"][0]
        value = next(entry["value"] for entry in result["metrics"] if entry["type"] == metric)
        return Score(dataset=result["dataset"]["name"], split=result["dataset"]["split"], metric=metric, value=value)
    except (yaml.YAMLError, KeyError, IndexError, TypeError, StopIteration):
        return None


def decide(challenger: Score, champion: Score | None, margin: float) -> Decision:
    """Publish when nothing comparable is published, or when the challenger is better by more than ``margin``."""

    def decision(publish: bool, reason: str) -> Decision:
        return Decision(publish=publish, reason=reason, challenger=challenger, champion=champion, margin=margin)

    if champion is None:
        return decision(True, "nothing is published yet")
    where = f"{challenger.metric} on {challenger.dataset} {challenger.split}"
    if (champion.dataset, champion.split, champion.metric) != (challenger.dataset, challenger.split, challenger.metric):
        return decision(
            True, f"the published model states {champion.metric} on {champion.dataset} {champion.split}, not {where}: "
            "no comparable score, so the new model replaces it",
        )  # fmt: skip
    gain = challenger.value - champion.value
    if gain > margin:
        return decision(
            True, f"{where} {challenger.value:.4f} beats the published {champion.value:.4f} by {gain:+.4f} (> {margin})"
        )
    return decision(
        False, f"{where} {challenger.value:.4f} does not beat the published {champion.value:.4f} by more than {margin} "
        f"({gain:+.4f})",
    )  # fmt: skip


def registry_champion(artifacts_dir: Path, model_name: str) -> Score | None:
    """The published score of ``model_name`` in the local registry, or None."""
    path = artifacts_dir / REGISTRY
    entry = read_json(path).get(model_name) if path.is_file() else None
    return Score.model_validate(entry["score"]) if entry else None


def register_release(artifacts_dir: Path, model_name: str, score: Score, release_dir: str) -> None:
    """Record a published release as ``model_name``'s champion in the local registry.

    Runs publishing at once take turns on the registry's lock, so none loses another's entry,
    and the file is replaced whole, so a reader never sees half of it.
    """
    path = artifacts_dir / REGISTRY
    with file_lock(path.with_name(f"{REGISTRY}.lock"), f"another run writing {path}"):
        registry = read_json(path) if path.is_file() else {}
        registry[model_name] = {"score": score.model_dump(), "release_dir": release_dir}
        replace_json(path, registry)

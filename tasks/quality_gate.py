"""The quality gate of a retraining run: publish the new model (the challenger) only when it
beats the published one (the champion) on the same data, split and metric by a margin.

The champion's score comes from its card's metadata (`model-index`, read with huggingface_hub's
`ModelCard`), on the Hub or in the local registry of releases kept under the artifacts directory
when there is no Hub repo.
"""

from pathlib import Path

import yaml
from huggingface_hub import ModelCard
from pydantic import BaseModel

from tasks.artifacts import read_json, write_json

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


def _card_metadata(card: str):
    """The card's metadata as huggingface_hub parses it, or None when it cannot be parsed."""
    try:
        return ModelCard(card).data
    except (ValueError, yaml.YAMLError):  # what ModelCard raises for a malformed block or model-index
        return None


def card_score(card: str, metric: str = GATE_METRIC) -> Score | None:
    """The score a model card's metadata states for ``metric``, or None when it states none."""
    metadata = _card_metadata(card)
    results = (metadata.eval_results or []) if metadata else []
    result = next((result for result in results if result.metric_type == metric), None)
    if result is None:
        return None
    try:
        return Score(
            dataset=result.dataset_name, fingerprint=result.dataset_revision, split=result.dataset_split,
            metric=metric, value=result.metric_value,
        )  # fmt: skip
    except ValueError:  # a value such as "0.8 ± 0.1", or no split: nothing the gate can compare
        return None


def card_weights_sha256(card: str) -> str | None:
    """The sha256 of the weights file a card was released with (``weights_sha256`` in its metadata), or None."""
    metadata = _card_metadata(card)
    digest = metadata.get("weights_sha256") if metadata else None
    return digest if isinstance(digest, str) else None


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
    """Record a published release as ``model_name``'s champion in the local registry."""
    path = artifacts_dir / REGISTRY
    registry = read_json(path) if path.is_file() else {}
    registry[model_name] = {"score": score.model_dump(), "release_dir": release_dir}
    write_json(path, registry)

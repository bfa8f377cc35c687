"""The quality gate of a retraining run: publish the new model (the challenger) only when it
beats the published one (the champion) on the same data, split and metric by a margin.

The champion's score comes from its card's metadata (`model-index`, read with huggingface_hub's
`ModelCard`), on the Hub or in the local registry of releases kept under the artifacts directory
when there is no Hub repo.
"""

from pathlib import Path
from urllib.parse import quote

import yaml
from huggingface_hub import ModelCard
from pydantic import BaseModel

from tasks import storage
from tasks.artifacts import file_lock, read_json, replace_json
from tasks.storage import is_remote

REGISTRY = "registry.json"
# In a bucket, which has no lock to take turns on one file, each release is an object of its own.
BUCKET_REGISTRY = "registry"
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
    champion: Score | None  # the published model on the challenger's data, split and metric: stated or measured
    margin: float
    floor: float  # what a model must score above to be published at all
    forced: bool = False  # published by --force-publish although the gate refused
    already_published: bool = False


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


def comparable(stated: Score | None, challenger: Score) -> bool:
    """Whether a stated score is on the challenger's very data (by content), split and metric."""
    return stated is not None and (stated.fingerprint, stated.split, stated.metric) == (
        challenger.fingerprint, challenger.split, challenger.metric
    )  # fmt: skip


def decide(
    challenger: Score,
    champion: Score | None,
    margin: float,
    floor: float,
    published: bool = False,
    unscorable: str | None = None,
    force: bool = False,
) -> Decision:
    """Publish when the challenger scores above ``floor`` and either nothing is ``published`` or it beats
    the ``champion`` (scored on the challenger's data) by more than ``margin``. A published model that
    cannot be scored (``unscorable`` says why) is kept; ``force`` publishes whatever the gate says, saying so."""

    def decision(publish: bool, reason: str, **facts) -> Decision:
        return Decision(
            publish=publish, reason=reason, challenger=challenger, champion=champion, margin=margin, floor=floor,
            **facts,
        )  # fmt: skip

    where = f"{challenger.metric} on {challenger.dataset} {challenger.split}"
    if challenger.value <= floor:
        refused = f"{where} {challenger.value:.4f} is not above the floor {floor:.4f}"
    elif not published:
        return decision(True, "nothing is published yet")
    elif unscorable:
        refused = f"the published model cannot be scored on this data ({unscorable}), so it is kept"
    else:
        gain = challenger.value - champion.value
        if gain > margin:
            return decision(
                True, f"{where} {challenger.value:.4f} beats the published model's {champion.value:.4f} by "
                f"{gain:+.4f} (> {margin})",
            )  # fmt: skip
        refused = (
            f"{where} {challenger.value:.4f} does not beat the published model's {champion.value:.4f} by more "
            f"than {margin} ({gain:+.4f})"
        )
    if force:
        return decision(True, f"published by --force-publish although {refused}", forced=True)
    return decision(False, refused)


def already_published(challenger: Score, margin: float, floor: float) -> Decision:
    """The decision for a model whose weights are those published: nothing to compare, nothing to publish."""
    return Decision(
        publish=False, reason="this model is already the published one", challenger=challenger, champion=challenger,
        margin=margin, floor=floor, already_published=True,
    )  # fmt: skip


class Release(BaseModel):
    """One run's release as the registry records it: what it scored, its weights, the gate's decision."""

    release_dir: str
    score: Score
    weights_sha256: str | None = None
    decision: Decision | None = None
    pushed_to: str | None = None  # the Hub commit it was pushed as


def _registry_entry(registry: dict, model_name: str) -> dict:
    entry = registry.get(model_name) or {"published": None, "history": []}
    if "score" in entry:  # a registry written before decisions were recorded: its one release is published
        entry = {"published": {"release_dir": entry["release_dir"], "score": entry["score"]}, "history": []}
    return entry


def registry_published(artifacts_dir: Path | str, model_name: str) -> Release | None:
    """The release of ``model_name`` published last, by the local registry, or None."""
    if is_remote(artifacts_dir):
        releases = [Release.model_validate(entry) for entry in storage.read_records(_bucket_registry(artifacts_dir, model_name))]
        return next((release for release in reversed(releases) if release.decision and release.decision.publish), None)
    path = artifacts_dir / REGISTRY
    published = _registry_entry(read_json(path), model_name)["published"] if path.is_file() else None
    return Release.model_validate(published) if published else None


def _bucket_registry(artifacts_dir: str, model_name: str) -> str:
    return storage.join(artifacts_dir, BUCKET_REGISTRY, quote(model_name, safe=""))


def record_release(artifacts_dir: Path | str, model_name: str, release: Release) -> None:
    """Add a run's release and decision to ``model_name``'s history in the local registry; a published one
    becomes what is published.

    Runs recording at once take turns on the registry's lock, so none loses another's entry,
    and the file is replaced whole, so a reader never sees half of it. In a bucket the release is added
    as an object of its own (`tasks.storage.add_record`), which no other run's can overwrite.
    """
    if is_remote(artifacts_dir):
        storage.add_record(_bucket_registry(artifacts_dir, model_name), release.model_dump(mode="json"))
        return
    path = artifacts_dir / REGISTRY
    with file_lock(path.with_name(f".{REGISTRY}.lock"), f"another run writing {path}"):
        registry = read_json(path) if path.is_file() else {}
        entry = _registry_entry(registry, model_name)
        entry["history"].append(release.model_dump(mode="json"))
        if release.decision.publish:
            entry["published"] = release.model_dump(mode="json")
        registry[model_name] = entry
        replace_json(path, registry)

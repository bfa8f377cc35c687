"""The quality gate of a retraining run: publish the new model (the challenger) only when it
beats the published one (the champion) on the same data, split and metric by a margin.

The champion's score comes from its card's metadata (`model-index`, read with huggingface_hub's
`ModelCard`), on the Hub or in the local registry of releases kept under the artifacts directory
when there is no Hub repo.
"""

from pathlib import Path, PurePosixPath
from urllib.parse import quote, unquote

import yaml
from huggingface_hub import ModelCard
from pydantic import BaseModel

from tasks.storage import buckets
from tasks.storage.buckets import is_remote
from tasks.storage.catalog import BUCKET_REGISTRY, REGISTRY
from tasks.storage.files import read_json, replace_json
from tasks.storage.locks import file_lock


class Score(BaseModel):
    dataset: str  # the name cards show: a Hub id, or the file, folder or embedded name
    fingerprint: str | None = None  # content fingerprint of the evaluated split: the data's identity
    split: str
    metric: str
    value: float


class DataCheck(BaseModel):
    """What the data report tells the gate: how much of the evaluated split also appears in train, and
    how far the training labels moved from the published model's."""

    split: str  # the evaluated split
    unit: str  # what its examples are called: sentences, examples
    overlap: float  # the share of its examples that also appear in train
    max_overlap: float
    label_shift: float | None = None  # total variation distance from the published model's training labels
    max_label_shift: float

    def leak(self) -> str | None:
        """Why the evaluated split's score cannot be trusted, when too much of it is in train."""
        if self.overlap <= self.max_overlap:
            return None
        return (
            f"{100 * self.overlap:.1f} % of the {self.split} split's {self.unit} also appear in train (over "
            f"--max-overlap {100 * self.max_overlap:g} %): a leaked split's score says nothing about new data"
        )

    def shift(self) -> str | None:
        """A warning when the training labels moved from the published model's by more than allowed."""
        if self.label_shift is None or self.label_shift <= self.max_label_shift:
            return None
        return (
            f"the training data's label distribution moved from the published model's by {self.label_shift:.2f} "
            f"(total variation distance, over --max-label-shift {self.max_label_shift:g})"
        )


class Decision(BaseModel):
    publish: bool
    reason: str
    challenger: Score
    champion: Score | None  # the published model on the challenger's data, split and metric: stated or measured
    margin: float
    floor: float  # what a model must score above to be published at all
    forced: bool = False  # published by --force-publish although the gate refused
    already_published: bool = False
    data: DataCheck | None = None  # what the data report told the gate


def _card_metadata(card: str):
    """The card's metadata as huggingface_hub parses it, or None when it cannot be parsed."""
    try:
        return ModelCard(card).data
    except (ValueError, yaml.YAMLError):  # what ModelCard raises for a malformed block or model-index
        return None


def card_score(card: str, metric: str) -> Score | None:
    """The score a model card's metadata states for ``metric``, or None when it states none."""
    metadata = _card_metadata(card)
    results = (metadata.eval_results or []) if metadata else []
    result = next((result for result in results if result.metric_type == metric), None)
    if result is None:
        return None
    try:
        return Score(
            dataset=result.dataset_name,
            fingerprint=result.dataset_revision,
            split=result.dataset_split,
            metric=metric,
            value=result.metric_value,
        )
    except ValueError:  # a value such as "0.8 ± 0.1", or no split: nothing the gate can compare
        return None


def card_label_distribution(card: str) -> dict[str, float] | None:
    """The training label distribution a card's metadata states (``train_label_distribution``), or None."""
    metadata = _card_metadata(card)
    shares = metadata.get("train_label_distribution") if metadata else None
    valid = isinstance(shares, dict) and all(
        isinstance(share, (int, float)) and not isinstance(share, bool) for share in shares.values()
    )
    return {str(label): float(share) for label, share in shares.items()} if valid and shares else None


def card_weights_sha256(card: str) -> str | None:
    """The sha256 of the weights file a card was released with (``weights_sha256`` in its metadata), or None."""
    metadata = _card_metadata(card)
    digest = metadata.get("weights_sha256") if metadata else None
    return digest if isinstance(digest, str) else None


def comparable(stated: Score | None, challenger: Score) -> bool:
    """Whether a stated score is on the challenger's very data (by content), split and metric."""
    return stated is not None and (stated.fingerprint, stated.split, stated.metric) == (
        challenger.fingerprint,
        challenger.split,
        challenger.metric,
    )


def decide(
    challenger: Score,
    champion: Score | None,
    margin: float,
    floor: float,
    unscorable: str | None = None,
    force: bool = False,
    data: DataCheck | None = None,
    damaged: str | None = None,
) -> Decision:
    """Publish when the challenger scores above ``floor`` and either nothing is published (no ``champion``,
    and no ``unscorable`` one) or it beats the ``champion`` (scored on the challenger's data) by more than
    ``margin``. An evaluated split that
    ``data`` finds leaked from train refuses first; a label shift there is recorded, never a refusal.
    A published model that cannot be scored (``unscorable`` says why) is kept; one whose files are damaged
    (``damaged`` says how) is replaced, a sound model being better than one that does not load. ``force``
    publishes whatever the gate says, saying so."""

    def decision(publish: bool, reason: str, **facts) -> Decision:
        return Decision(
            publish=publish,
            reason=reason,
            challenger=challenger,
            champion=champion,
            margin=margin,
            floor=floor,
            data=data,
            **facts,
        )

    where = f"{challenger.metric} on {challenger.dataset} {challenger.split}"
    leak = data.leak() if data else None
    if leak:
        refused = leak
    elif challenger.value <= floor:
        refused = f"{where} {challenger.value:.4f} is not above the floor {floor:.4f}"
    elif damaged:
        return decision(
            True, f"the published model cannot be scored because it is damaged ({damaged}); this model replaces it"
        )
    elif champion is None and unscorable is None:
        return decision(True, "nothing is published yet")
    elif unscorable:
        refused = f"the published model cannot be scored on this data ({unscorable}), so it is kept"
    else:
        gain = challenger.value - champion.value
        if gain > margin:
            return decision(
                True,
                f"{where} {challenger.value:.4f} beats the published model's {champion.value:.4f} by "
                f"{gain:+.4f} (> {margin})",
            )
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
        publish=False,
        reason="this model is already the published one",
        challenger=challenger,
        champion=challenger,
        margin=margin,
        floor=floor,
        already_published=True,
    )


class Release(BaseModel):
    """One run's release as the registry records it: what it scored, its weights, the gate's decision."""

    release_dir: str
    score: Score
    weights_sha256: str | None = None
    decision: Decision | None = None
    pushed_to: str | None = None  # the Hub commit it was pushed as
    pruned: bool = False  # its directory was removed by flows.prune; its record stays
    # The training data's label shares, to tell the next run how far its labels moved; its data check
    # (the overlap of the evaluated split with train) is the decision's.
    label_distribution: dict[str, float] | None = None


def registry_entry(registry: dict, model_name: str) -> dict:
    entry = registry.get(model_name) or {"published": None, "history": []}
    if "score" in entry:  # a registry written before decisions were recorded: its one release is published
        entry = {"published": {"release_dir": entry["release_dir"], "score": entry["score"]}, "history": []}
    return entry


def registry_published(artifacts_dir: Path | str, model_name: str) -> Release | None:
    """The release of ``model_name`` published last, by the local registry, or None."""
    if is_remote(artifacts_dir):
        releases = [
            Release.model_validate(entry) for entry in buckets.read_records(_bucket_registry(artifacts_dir, model_name))
        ]
        return next((release for release in reversed(releases) if release.decision and release.decision.publish), None)
    path = artifacts_dir / REGISTRY
    published = registry_entry(read_json(path), model_name)["published"] if path.is_file() else None
    return Release.model_validate(published) if published else None


def registered_names(artifacts_dir: Path | str) -> list[str]:
    """The model names the registry of ``artifacts_dir`` holds releases of."""
    if is_remote(artifacts_dir):
        objects = buckets.listing(buckets.join(artifacts_dir, BUCKET_REGISTRY))
        return sorted({unquote(PurePosixPath(name).parent.name) for name in objects})
    path = Path(artifacts_dir) / REGISTRY
    return sorted(read_json(path)) if path.is_file() else []


def _bucket_registry(artifacts_dir: str, model_name: str) -> str:
    return buckets.join(artifacts_dir, BUCKET_REGISTRY, quote(model_name, safe=""))


def record_release(artifacts_dir: Path | str, model_name: str, release: Release) -> None:
    """Add a run's release and decision to ``model_name``'s history in the local registry; a published one
    becomes what is published.

    Runs recording at once take turns on the registry's lock, so none loses another's entry,
    and the file is replaced whole, so a reader never sees half of it. In a bucket the release is added
    as an object of its own (`tasks.storage.buckets.add_record`), which no other run's can overwrite.
    """
    if is_remote(artifacts_dir):
        buckets.add_record(_bucket_registry(artifacts_dir, model_name), release.model_dump(mode="json"))
        return
    path = artifacts_dir / REGISTRY
    with file_lock(path.with_name(f".{REGISTRY}.lock"), f"another run writing {path}"):
        registry = read_json(path) if path.is_file() else {}
        entry = registry_entry(registry, model_name)
        entry["history"].append(release.model_dump(mode="json"))
        if release.decision.publish:
            entry["published"] = release.model_dump(mode="json")
        registry[model_name] = entry
        replace_json(path, registry)

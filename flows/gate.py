"""The quality gate as the flow runs it: find what is published, score it on the new model's evaluation
split when its stated score is on other data, and decide (`tasks.scores.quality_gate.decide`)."""

import json
from typing import NamedTuple

from prefect import get_run_logger
from pydantic import BaseModel, ConfigDict

from tasks.config.finetune import FinetuneConfig, GateConfig, HubConfig
from tasks.config.sections import MixedPrecision, TaskName, TokenizationConfig
from tasks.errors import PipelineError
from tasks.hub import download_published, published_card
from tasks.profiles import profile_of
from tasks.reports.card_facts import dataset_display_name
from tasks.scores.quality_gate import (
    DataCheck,
    Decision,
    Score,
    already_published,
    card_label_distribution,
    card_score,
    card_weights_sha256,
    comparable,
    decide,
    registry_published,
)
from tasks.scores.run_metric import metric_value
from tasks.steps.data_report import label_shift, training_distribution
from tasks.steps.evaluate import evaluate, evaluated_split
from tasks.steps.release import ReleaseInputs, ReleaseNames
from tasks.storage.artifacts import is_finished, local_dir, read_artifact, read_artifact_json
from tasks.storage.catalog import DATA_REPORT, LOAD_SUMMARY, METRICS, PUBLISHED_DOWNLOADS, TRAIN_SUMMARY
from tasks.storage.step import ArtifactStore, StepReport
from tasks.weights import weights_problem


class GateRequest(BaseModel):
    """What the gate needs of a run: its thresholds, the Hub repo it publishes to, the metric and data it compares
    on, and how the run's evaluate step scores (to score a published model the same way)."""

    model_config = ConfigDict(frozen=True)

    gate: GateConfig
    hub: HubConfig
    task: TaskName
    metric: str
    dataset: str
    tokenization: TokenizationConfig
    eval_batch_size: int
    mixed_precision: MixedPrecision

    @classmethod
    def of(cls, config: FinetuneConfig) -> "GateRequest":
        return cls(
            gate=config.section(GateConfig),
            hub=config.section(HubConfig),
            task=config.task,
            metric=config.metric,
            dataset=str(config.dataset),
            tokenization=config.section(TokenizationConfig),
            eval_batch_size=config.eval_batch_size,
            mixed_precision=config.mixed_precision,
        )


class Published(BaseModel):
    """What is published now: the score its card or the registry states, its weights, where its files are,
    and its training label distribution."""

    stated: Score | None
    weights_sha256: str | None
    model_dir: str | None  # None for a Hub model until it must be downloaded to be scored
    label_distribution: dict[str, float] | None = None  # None for a release recorded before data reports


class GateResult(BaseModel):
    decision: Decision
    card_decision: Decision  # what the release's card states: for the published release, the decision that published it
    steps: list[StepReport]  # scoring the published model, when it ran
    weights_sha256: str  # the new model's, as the registry records it
    label_distribution: dict[str, float]  # the new model's training data's, as the registry records it


def challenger_score(request: GateRequest, loaded: dict, evaluation_dir: str, dataset_hub_id: str | None) -> Score:
    metrics = read_artifact_json(evaluation_dir, METRICS)
    split = evaluated_split(metrics)
    return Score(
        dataset=dataset_display_name(dataset_hub_id, request.dataset),
        fingerprint=loaded["fingerprints"][split],
        split=split,
        metric=request.metric,
        value=round(metric_value(metrics[split], request.metric), 4),  # as the card states it
    )


def floor(request: GateRequest, dataset_dir: str, labels: list[str], split: str) -> float:
    """The score to beat at all: --min-score, and what giving every example one label scores."""
    import datasets  # heavy: imported where used, so the flow module and cached runs start fast

    def rows() -> datasets.Dataset:  # loaded only by a task whose chance score needs them: in a bucket, a download
        return datasets.load_from_disk(str(local_dir(dataset_dir)))[split]

    chance = profile_of(request.task).quality_gate.chance_score(rows, labels, request.metric)
    return max(request.gate.min_score, round(chance, 4))


def trained_weights_sha256(model_dir: str) -> str:
    """The new model's identity, as its train step recorded it: in a bucket, no download of the weights."""
    return read_artifact_json(model_dir, TRAIN_SUMMARY)["weights_sha256"]


def find_published(hub: HubConfig, metric: str, store: ArtifactStore, model_name: str) -> Published | None:
    """The published model: the Hub repo's card when pushing, else the local registry's release."""
    if hub.hub_model_id:
        card = published_card(hub.hub_model_id, hub.hub_revision, hub.hub_token_secret)
        return card and Published(
            stated=card_score(card, metric),
            weights_sha256=card_weights_sha256(card),
            model_dir=None,
            label_distribution=card_label_distribution(card),
        )
    release = registry_published(store.root, model_name)
    if release is None:
        return None
    model_dir = release.release_dir if is_finished(release.release_dir) else None
    return Published(
        stated=release.score,
        weights_sha256=release.weights_sha256,
        model_dir=model_dir,
        label_distribution=release.label_distribution,
    )


def data_check(gate: GateConfig, report: dict, split: str, published: Published | None) -> DataCheck:
    """The data report's overlap of ``split`` with train, and how far the training labels moved from the
    published model's (when both are known)."""
    ours, theirs = training_distribution(report), published and published.label_distribution
    return DataCheck(
        split=split,
        unit=report["unit"],
        overlap=report["overlap"][split]["share"],
        max_overlap=gate.max_overlap,
        label_shift=label_shift(ours, theirs) if ours and theirs else None,
        max_label_shift=gate.max_label_shift,
    )


def label_mismatch(model_dir: str, labels: list[str]) -> str | None:
    """Why the published model cannot label this data, if its labels are not the data's."""
    try:
        config = json.loads(read_artifact(model_dir, "config.json"))
    except (OSError, ValueError) as error:
        return f"it does not load: no readable config.json ({error.__class__.__name__})"
    theirs, ours = set(config.get("id2label", {}).values()), set(labels)
    if theirs != ours:
        return f"its labels ({', '.join(sorted(theirs))}) are not this data's ({', '.join(sorted(ours))})"
    return None


class ChampionScore(NamedTuple):
    """The published model's score on the challenger's split, or why it has none: it cannot be scored on this
    data (``unscorable``), or its files are damaged (``damaged``)."""

    score: Score | None
    steps: list[StepReport]
    unscorable: str | None = None
    damaged: str | None = None


def score_published(
    request: GateRequest,
    store: ArtifactStore,
    published: Published,
    dataset_dir: str,
    labels: list[str],
    challenger: Score,
) -> ChampionScore:
    """The published model's score on the challenger's split with the same evaluation step."""
    try:
        model_dir = published.model_dir or _download(request.hub, store)
    except PipelineError as error:
        return ChampionScore(None, [], unscorable=str(error))
    problem = label_mismatch(model_dir, labels)
    if problem:
        return ChampionScore(None, [], unscorable=problem)
    damage = weights_problem(local_dir(model_dir), published.weights_sha256)
    if damage:
        return ChampionScore(None, [], damaged=damage)
    try:
        scored = evaluate(
            model_dir,
            dataset_dir,
            request.tokenization,
            request.eval_batch_size,
            request.task,
            request.mixed_precision,
            store=store,
        )
    except (PipelineError, OSError, ValueError) as error:  # what transformers raises for unreadable weights
        return ChampionScore(
            None, [], damaged="it does not load: " + next(iter(str(error).splitlines()), type(error).__name__)
        )
    value = metric_value(read_artifact_json(scored.path, METRICS)[challenger.split], challenger.metric)
    report = scored.model_copy(update={"name": "published"})
    return ChampionScore(challenger.model_copy(update={"value": round(value, 4)}), [report])


def _download(hub: HubConfig, store: ArtifactStore) -> str:
    if not hub.hub_model_id:
        raise PipelineError("its release directory is gone or incomplete")
    root = store.local_root() / PUBLISHED_DOWNLOADS
    return str(download_published(hub.hub_model_id, hub.hub_revision, root, hub.hub_token_secret))


def quality_gate(
    config: FinetuneConfig, store: ArtifactStore, inputs: ReleaseInputs, names: ReleaseNames
) -> GateResult:
    """Decide whether the new model (the release's ``inputs``) is published as ``names.model_name``, against
    what is published now on the same data, with what the data report found."""
    request, dataset_dir, model_name = GateRequest.of(config), inputs.dataset_dir, names.model_name
    loaded, report = read_artifact_json(dataset_dir, LOAD_SUMMARY), read_artifact_json(inputs.report_dir, DATA_REPORT)
    challenger = challenger_score(request, loaded, inputs.evaluation_dir, names.dataset_hub_id)
    bar, ours = (
        floor(request, dataset_dir, loaded["labels"], challenger.split),
        trained_weights_sha256(inputs.model_dir),
    )
    published = find_published(request.hub, request.metric, store, model_name)
    labels = training_distribution(report)
    if published and published.weights_sha256 == ours:
        decision = already_published(challenger, request.gate.min_improvement, bar)
        recorded = registry_published(store.root, model_name)
        # The release's card keeps the decision that published it, so the release is the one published.
        same = recorded and recorded.weights_sha256 == ours and recorded.decision
        card_decision = recorded.decision if same else decision
        return _logged(
            GateResult(
                decision=decision, card_decision=card_decision, steps=[], weights_sha256=ours, label_distribution=labels
            )
        )
    champion = ChampionScore(None, [])
    if published and comparable(published.stated, challenger):
        champion = ChampionScore(published.stated, [])
    elif published:
        champion = score_published(request, store, published, dataset_dir, loaded["labels"], challenger)
    decision = decide(
        challenger,
        champion.score,
        request.gate.min_improvement,
        bar,
        unscorable=champion.unscorable,
        force=request.gate.force_publish,
        data=data_check(request.gate, report, challenger.split, published),
        damaged=champion.damaged,
    )
    return _logged(
        GateResult(
            decision=decision,
            card_decision=decision,
            steps=champion.steps,
            weights_sha256=ours,
            label_distribution=labels,
        )
    )


def _logged(result: GateResult) -> GateResult:
    decision, logger = result.decision, get_run_logger()
    shift = decision.data and decision.data.shift()
    if shift:
        logger.warning(f"Label shift: {shift}.")
    if decision.forced:
        logger.warning(f"Publishing: {decision.reason}")
    else:
        logger.info(("Publishing: " if decision.publish else "Not publishing: ") + decision.reason)
    return result

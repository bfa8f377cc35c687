"""model card: render the README.md that ships with the model (pure), and the release step
that puts the model, its scores and its card in one directory, ready to push."""

import os
import shutil
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import yaml
from pydantic import BaseModel

from tasks.artifacts import building, read_json, step
from tasks.check import CHECK
from tasks.config import DataConfig, TaskName, TokenizationConfig, TrainingConfig
from tasks.engines.common import HISTORY, SUMMARY as TRAIN_SUMMARY
from tasks.evaluation import METRICS
from tasks.load import SUMMARY as LOAD_SUMMARY
from tasks.quality_gate import Decision
from tasks.sources import DERIVED_DESCRIPTIONS

CARD = "README.md"
FRAMEWORKS = ("transformers", "torch", "datasets", "tokenizers", "accelerate", "prefect")
_TITLES = {"precision": "Precision", "recall": "Recall", "f1": "F1", "accuracy": "Accuracy", "macro_f1": "Macro-F1"}


@dataclass(frozen=True)
class _TaskProfile:
    pipeline: str
    name: str
    what: str
    metrics: tuple[str, ...]
    count: str  # the metrics.json key counting evaluated examples
    other_tasks_settings: frozenset[str]  # options that only the other task reads, left off the card


_PROFILES = {
    "ner": _TaskProfile(
        "token-classification", "Token Classification", "A token-classification (named-entity recognition) model",
        ("precision", "recall", "f1", "accuracy"), "num_sentences", frozenset({"text_columns", "label_column"}),
    ),
    "sequence-classification": _TaskProfile(
        "text-classification", "Text Classification", "A sequence-classification model",
        ("accuracy", "f1", "macro_f1"), "num_examples",
        frozenset({"tokens_column", "tags_column", "label_alignment"}),
    ),
}  # fmt: skip


def headline_metrics(task: TaskName) -> tuple[str, ...]:
    """The metrics a run of ``task`` is summarised by, in the order cards and tables show them."""
    return _PROFILES[task].metrics


class CardFacts(BaseModel):
    """Everything a card states, gathered from the run's artifacts."""

    task: TaskName
    model_name: str
    model_reference: str  # what to pass to pipeline(): the Hub repo id, or the local directory
    base_model: str
    dataset_hub_id: str | None
    dataset: dict
    hyperparameters: dict
    history: list[dict]
    metrics: dict
    check: dict
    frameworks: dict[str, str]
    decision: dict | None = None  # the quality gate's, see tasks.quality_gate

    @property
    def profile(self) -> _TaskProfile:
        return _PROFILES[self.task]


def dataset_display_name(dataset_hub_id: str | None, dataset_option: str) -> str:
    """The dataset's name in card metadata: its Hub id, else the file, folder or embedded name."""
    return dataset_hub_id or Path(dataset_option).name.removeprefix("embedded:")


def _front_matter(facts: CardFacts) -> str:
    test = facts.metrics.get("test") or facts.metrics["validation"]
    split = "test" if "test" in facts.metrics else "validation"
    option = str(facts.hyperparameters.get("dataset") or facts.dataset["source"]["location"])
    dataset_name = dataset_display_name(facts.dataset_hub_id, option)
    profile = facts.profile
    metadata = {
        "library_name": "transformers",
        "pipeline_tag": profile.pipeline,
        "tags": [profile.pipeline, *(["ner"] if facts.task == "ner" else [])],
        "metrics": sorted({name.removeprefix("macro_") for name in profile.metrics}),
        "model-index": [{
            "name": facts.model_name,
            "results": [{
                "task": {"type": profile.pipeline, "name": profile.name},
                "dataset": {"name": dataset_name, "type": dataset_name, "split": split},
                "metrics": [{"type": name, "value": round(test[name], 4), "name": _TITLES[name]} for name in profile.metrics],
            }],
        }],
    }  # fmt: skip
    if "/" in facts.base_model:
        metadata["base_model"] = facts.base_model
    if facts.dataset_hub_id:
        metadata["datasets"] = [facts.dataset_hub_id]
    return "---\n" + yaml.safe_dump(metadata, sort_keys=False) + "---\n"


def _table(header: list[str], rows: list[list]) -> list[str]:
    def cell(value) -> str:
        return f"{value:.4f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]


def epoch_rows(history: list[dict], metrics: tuple[str, ...]) -> list[list]:
    """One row per evaluation: epoch, step, last training loss before it, validation loss and scores."""
    rows, training_loss = [], "—"
    for entry in history:
        if "loss" in entry:
            training_loss = entry["loss"]
        if "eval_f1" in entry:
            scores = [entry[f"eval_{name}"] for name in metrics]
            rows.append([f"{entry['epoch']:g}", entry["step"], training_loss, entry["eval_loss"], *scores])
    return rows


def _detail_tables(task: TaskName, split: str, scores: dict) -> list[str]:
    if task == "ner":
        rows = [[kind, row["precision"], row["recall"], row["f1"], row["support"]] for kind, row in scores["per_type"].items()]
        return ["", f"Per entity type, {split}:", "", *_table(["Entity", "Precision", "Recall", "F1", "Support"], rows)]
    rows = [[label, row["precision"], row["recall"], row["f1"], row["support"]] for label, row in scores["per_class"].items()]
    confusion = scores["confusion_matrix"]
    matrix = [[f"gold {label}", *counts] for label, counts in zip(confusion["labels"], confusion["rows_gold_columns_predicted"])]
    return [
        "", f"Per class and confusion matrix, {split}:", "",
        *_table(["Class", "Precision", "Recall", "F1", "Support"], rows), "",
        *_table(["", *(f"predicted {label}" for label in confusion["labels"])], matrix),
    ]  # fmt: skip


def _scores_section(facts: CardFacts) -> list[str]:
    profile = facts.profile
    how = (
        "Scored per word (first sub-word), with seqeval, which follows conlleval."
        if facts.task == "ner"
        else "F1 is the F1 of the second class for two classes (as GLUE reports MRPC), macro-F1 otherwise."
    )
    overall = [[split, scores[profile.count], *(scores[name] for name in profile.metrics)] for split, scores in facts.metrics.items()]
    lines = ["## Evaluation", "", how, "", *_table(["Split", "Examples", *(_TITLES[m] for m in profile.metrics)], overall)]
    for split, scores in facts.metrics.items():
        lines += _detail_tables(facts.task, split, scores)
    return lines + [""]


def _data_section(facts: CardFacts) -> list[str]:
    source, dataset = facts.dataset["source"], facts.dataset
    origin = source["location"] + (f" (revision {source['revision']})" if source.get("revision") else "")
    rows = [[split, count, dataset["fingerprints"][split]] for split, count in dataset["num_rows"].items()]
    description = DERIVED_DESCRIPTIONS.get(source.get("format"))
    derived = [f"Derived data: {description}", ""] if description else []
    return [
        "## Training and evaluation data", "",
        f"Source: `{origin}` ({source['kind']}; content digest `{source.get('digest') or 'n/a'}`).", "",
        *derived,
        *_table(["Split", "Examples", "Fingerprint"], rows), "",
        "Labels: " + ", ".join(f"`{label}`" for label in dataset["labels"]), "",
    ]  # fmt: skip


def _check_section(facts: CardFacts) -> list[str]:
    check = facts.check
    if facts.task == "ner":
        call = f"classify({check['text']!r})"
        rows = [[entity["entity_group"], entity["word"], entity["score"]] for entity in check["entities"]]
        result = _table(["Entity", "Words", "Score"], rows) if rows else ["(no entities)"]
    else:
        inputs = {"text": check["text"], **({"text_pair": check["text_pair"]} if check.get("text_pair") else {})}
        call = f"classify({inputs!r})"
        result = _table(["Label", "Score"], [[check["prediction"]["label"], check["prediction"]["score"]]])
    options = ', aggregation_strategy="simple"' if facts.task == "ner" else ""
    return [
        "## Try it", "",
        "```python",
        "from transformers import pipeline",
        "",
        f'classify = pipeline("{facts.profile.pipeline}", model="{facts.model_reference}"{options})',
        call,
        "```", "",
        "What the saved model returned for that input:", "",
        *result, "",
    ]  # fmt: skip


def _decision_section(facts: CardFacts) -> list[str]:
    decision = facts.decision
    if decision is None:
        return []
    champion = decision["champion"]
    rows = [["this model", decision["challenger"]["value"]]]
    rows += [["previously published", champion["value"]]] if champion else []
    verdict = "Published" if decision["publish"] else "Not published"
    return [
        "## Release history", "",
        f"{verdict} by the quality gate (margin {decision['margin']}): {decision['reason']}.", "",
        *_table(["Model", f"{decision['challenger']['metric']} ({decision['challenger']['split']})"], rows), "",
    ]  # fmt: skip


def _summary_line(facts: CardFacts) -> str:
    labels = facts.dataset["labels"]
    if facts.task == "ner":
        return f"It tags words with {len(labels)} labels in IOB2 format."
    pair = "pairs of texts" if facts.check.get("text_pair") else "texts"
    return f"It sorts {pair} into {len(labels)} classes: " + ", ".join(f"`{label}`" for label in labels) + "."


def render_card(facts: CardFacts) -> str:
    """The model card: Hub metadata, then what the model is, how it was trained and how it scores."""
    unused = facts.profile.other_tasks_settings
    hyperparameters = [[name, value] for name, value in facts.hyperparameters.items() if name not in unused]
    metrics = facts.profile.metrics
    lines = [
        f"# {facts.model_name}", "",
        f"{facts.profile.what} fine-tuned from `{facts.base_model}`.",
        _summary_line(facts), "",
        *_scores_section(facts),
        "The scores are those of the saved model: the epoch with the best validation F1.", "",
        *_check_section(facts),
        *_data_section(facts),
        *_decision_section(facts),
        "## Training procedure", "",
        *_table(["Hyper-parameter", "Value"], hyperparameters), "",
        *_table(["Epoch", "Step", "Training loss", "Validation loss", *(_TITLES[m] for m in metrics)],
                epoch_rows(facts.history, metrics)), "",
        "## Framework versions", "",
        *(f"- {name} {number}" for name, number in facts.frameworks.items()), "",
    ]  # fmt: skip
    return _front_matter(facts) + "\n" + "\n".join(lines)


def _link_or_copy(source: Path, target: Path) -> None:
    """Hard-link when possible: the release shares the model's bytes instead of copying them."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


@step("release")
def release_model(
    task: TaskName,
    model_dir: str,
    dataset_dir: str,
    evaluation_dir: str,
    check_dir: str,
    model_name: str,
    hub_model_id: str | None,
    base_model: str,
    dataset_hub_id: str | None,
    settings: list[DataConfig | TokenizationConfig | TrainingConfig],
    decision: Decision | None,
    out_dir: str,
) -> str:
    """The model directory to publish: weights, tokenizer, metrics.json and the README.md card."""
    hyperparameters = {name: value for section in settings for name, value in section.model_dump(mode="json").items()}
    # The precision the engine chose, not "auto": the card says what the model was trained in.
    hyperparameters["mixed_precision"] = read_json(Path(model_dir) / TRAIN_SUMMARY)["mixed_precision"]
    facts = CardFacts(
        task=task,
        model_name=hub_model_id or model_name,
        model_reference=hub_model_id or out_dir,
        base_model=base_model,
        dataset_hub_id=dataset_hub_id,
        dataset=read_json(Path(dataset_dir) / LOAD_SUMMARY),
        hyperparameters=hyperparameters,
        history=read_json(Path(model_dir) / HISTORY),
        metrics=read_json(Path(evaluation_dir) / METRICS),
        check=read_json(Path(check_dir) / CHECK),
        frameworks={name: version(name) for name in FRAMEWORKS},
        decision=decision.model_dump() if decision else None,
    )
    with building(Path(out_dir)) as partial:
        for file in Path(model_dir).iterdir():
            if file.is_file() and not file.name.startswith("."):
                _link_or_copy(file, partial / file.name)
        _link_or_copy(Path(evaluation_dir) / METRICS, partial / METRICS)
        (partial / CARD).write_text(render_card(facts))
    return out_dir


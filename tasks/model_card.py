"""model card: render the README.md that ships with the model (pure), and the release step
that puts the model, its scores and its card in one directory, ready to push."""

import os
import shutil
from importlib.metadata import version
from pathlib import Path

import yaml
from prefect import task
from pydantic import BaseModel

from tasks.artifacts import OutDirKey, Step, building, read_json
from tasks.check import CHECK
from tasks.config import DataConfig, TokenizationConfig, TrainingConfig
from tasks.evaluation import METRICS
from tasks.load import SUMMARY as LOAD_SUMMARY
from tasks.training import HISTORY

CARD = "README.md"
FRAMEWORKS = ("transformers", "torch", "datasets", "tokenizers", "accelerate", "prefect")
_METRIC_NAMES = ("precision", "recall", "f1", "accuracy")


class CardFacts(BaseModel):
    """Everything a card states, gathered from the run's artifacts."""

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


def _front_matter(facts: CardFacts) -> str:
    test = facts.metrics.get("test") or facts.metrics["validation"]
    split = "test" if "test" in facts.metrics else "validation"
    dataset_name = facts.dataset_hub_id or Path(facts.dataset["source"]["location"]).name
    metadata = {
        "library_name": "transformers",
        "pipeline_tag": "token-classification",
        "tags": ["token-classification", "ner"],
        "metrics": list(_METRIC_NAMES),
        "model-index": [{
            "name": facts.model_name,
            "results": [{
                "task": {"type": "token-classification", "name": "Token Classification"},
                "dataset": {"name": dataset_name, "type": dataset_name, "split": split},
                "metrics": [{"type": name, "value": round(test[name], 4), "name": name.title()} for name in _METRIC_NAMES],
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


def epoch_rows(history: list[dict]) -> list[list]:
    """One row per evaluation: epoch, step, last training loss before it, validation loss and scores."""
    rows, training_loss = [], "—"
    for entry in history:
        if "loss" in entry:
            training_loss = entry["loss"]
        if "eval_f1" in entry:
            scores = [entry[f"eval_{name}"] for name in _METRIC_NAMES]
            rows.append([f"{entry['epoch']:g}", entry["step"], training_loss, entry["eval_loss"], *scores])
    return rows


def _scores_section(metrics: dict) -> list[str]:
    lines = ["## Evaluation", "", "Scored per word (first sub-word), with seqeval, which follows conlleval.", ""]
    overall = [[split, scores["num_sentences"], *(scores[name] for name in _METRIC_NAMES)] for split, scores in metrics.items()]
    lines += _table(["Split", "Sentences", "Precision", "Recall", "F1", "Accuracy"], overall)
    for split, scores in metrics.items():
        rows = [[kind, row["precision"], row["recall"], row["f1"], row["support"]] for kind, row in scores["per_type"].items()]
        lines += ["", f"Per entity type, {split}:", ""]
        lines += _table(["Entity", "Precision", "Recall", "F1", "Support"], rows)
    return lines + [""]


def _data_section(facts: CardFacts) -> list[str]:
    source, dataset = facts.dataset["source"], facts.dataset
    origin = source["location"] + (f" (revision {source['revision']})" if source.get("revision") else "")
    rows = [[split, count, dataset["fingerprints"][split]] for split, count in dataset["num_rows"].items()]
    return [
        "## Training and evaluation data", "",
        f"Source: `{origin}` ({source['kind']}; content digest `{source.get('digest') or 'n/a'}`).", "",
        *_table(["Split", "Sentences", "Fingerprint"], rows), "",
        "Labels: " + ", ".join(f"`{label}`" for label in dataset["labels"]), "",
    ]  # fmt: skip


def _check_section(facts: CardFacts) -> list[str]:
    rows = [[entity["entity_group"], entity["word"], entity["score"]] for entity in facts.check["entities"]]
    return [
        "## Try it", "",
        "```python",
        "from transformers import pipeline",
        "",
        f'ner = pipeline("token-classification", model="{facts.model_reference}", aggregation_strategy="simple")',
        f"ner({facts.check['text']!r})",
        "```", "",
        "What the saved model returned for that sentence:", "",
        *(_table(["Entity", "Words", "Score"], rows) if rows else ["(no entities)"]), "",
    ]  # fmt: skip


def render_card(facts: CardFacts) -> str:
    """The model card: Hub metadata, then what the model is, how it was trained and how it scores."""
    hyperparameters = [[name, value] for name, value in facts.hyperparameters.items()]
    lines = [
        f"# {facts.model_name}", "",
        f"A token-classification (named-entity recognition) model fine-tuned from `{facts.base_model}`.",
        f"It tags words with {len(facts.dataset['labels'])} labels in IOB2 format.", "",
        *_scores_section(facts.metrics),
        "The scores are those of the saved model: the epoch with the best validation F1.", "",
        *_check_section(facts),
        *_data_section(facts),
        "## Training procedure", "",
        *_table(["Hyper-parameter", "Value"], hyperparameters), "",
        *_table(["Epoch", "Step", "Training loss", "Validation loss", "Precision", "Recall", "F1", "Accuracy"],
                epoch_rows(facts.history)), "",
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


@task(cache_policy=OutDirKey(), persist_result=True, result_serializer="json")
def release_model(
    model_dir: str,
    dataset_dir: str,
    evaluation_dir: str,
    check_dir: str,
    model_name: str,
    hub_model_id: str | None,
    base_model: str,
    dataset_hub_id: str | None,
    settings: list[DataConfig | TokenizationConfig | TrainingConfig],
    out_dir: str,
) -> str:
    """The model directory to publish: weights, tokenizer, metrics.json and the README.md card."""
    facts = CardFacts(
        model_name=hub_model_id or model_name,
        model_reference=hub_model_id or out_dir,
        base_model=base_model,
        dataset_hub_id=dataset_hub_id,
        dataset=read_json(Path(dataset_dir) / LOAD_SUMMARY),
        hyperparameters={name: value for section in settings for name, value in section.model_dump(mode="json").items()},
        history=read_json(Path(model_dir) / HISTORY),
        metrics=read_json(Path(evaluation_dir) / METRICS),
        check=read_json(Path(check_dir) / CHECK),
        frameworks={name: version(name) for name in FRAMEWORKS},
    )
    with building(Path(out_dir)) as partial:
        for file in Path(model_dir).iterdir():
            if file.is_file() and not file.name.startswith("."):
                _link_or_copy(file, partial / file.name)
        _link_or_copy(Path(evaluation_dir) / METRICS, partial / METRICS)
        (partial / CARD).write_text(render_card(facts))
    return out_dir


RELEASE = Step(release_model, "release", version=1)

"""What both training engines share: their inputs, loading them, and the files they write."""

import os
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import datasets
import torch

from tasks.config.sections import ClassWeights, TaskName
from tasks.config.training import TrainingConfig
from tasks.console import is_verbose
from tasks.data.context import TRAINED_CONTEXT
from tasks.engines.request import TrainRequest
from tasks.errors import PipelineError
from tasks.pretrained import ModelSource, load_tokenizer
from tasks.profiles import profile_of
from tasks.scores.metrics import IGNORED
from tasks.storage.catalog import TENSORBOARD, TOKENIZE_SUMMARY, TRAIN_HISTORY, TRAIN_SUMMARY
from tasks.storage.files import read_json, weights_sha256, write_json


@dataclass
class TrainInputs:
    dataset: datasets.DatasetDict
    labels: list[str]
    tokenizer: object
    model: torch.nn.Module
    class_weights: list[float] | None = None  # by label id; None: the model's own, unweighted loss


def is_main_process() -> bool:
    """True in the process that writes the model and the records: the only one, or rank 0 under torchrun."""
    return int(os.environ.get("RANK", "0")) == 0


def tracking_facts(request: TrainRequest, mlflow_run_id: str | None) -> dict:
    """What the summary says of the run's tracking: where TensorBoard's event files are, which MLflow run."""
    report_to = request.training.report_to
    if report_to == "tensorboard":
        return {"report_to": report_to, "tensorboard_dir": TENSORBOARD}
    if report_to == "mlflow":
        return {"report_to": report_to, "mlflow_experiment": request.mlflow.experiment, "mlflow_run_id": mlflow_run_id}
    return {"report_to": report_to}


def distributed_on_cpu() -> bool:
    """True in a multi-process launch without CUDA, where both engines must ask for a gloo group
    explicitly (accelerate otherwise stays single-process)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.cuda.is_available()


def _label_ids(row_labels: list[int] | int) -> list[int]:
    """A row's label ids: a token classification row's, or a sequence classification row's one."""
    return row_labels if isinstance(row_labels, list) else [row_labels]


def check_label_ids(dataset: datasets.DatasetDict, labels: list[str], num_labels: int) -> None:
    """Fail before training when a label id cannot index the classifier's outputs: the
    usual cause of CUDA "device-side assert triggered" errors."""
    for split, rows in dataset.items():
        for row, label_ids in enumerate(rows["labels"]):
            bad = [label for label in _label_ids(label_ids) if label != IGNORED and not 0 <= label < num_labels]
            if bad:
                name = labels[bad[0]] if 0 <= bad[0] < len(labels) else "unnamed"
                raise PipelineError(
                    f"split '{split}' row {row}: label id {bad[0]} ({name}) is outside the model's "
                    f"{num_labels} labels ({', '.join(labels[:num_labels])})"
                )


def label_counts(rows: datasets.Dataset, num_labels: int) -> list[int]:
    """How many labelled positions (tokens for NER, examples for classification) have each label id."""
    counts = Counter(label for row_labels in rows["labels"] for label in _label_ids(row_labels) if label != IGNORED)
    return [counts[label] for label in range(num_labels)]


def class_weight_vector(setting: ClassWeights, labels: list[str], counts: list[int]) -> list[float] | None:
    """The loss weight of each label id, or None for the unweighted loss.

    balanced is scikit-learn's ``n / (k * count)`` over the k labels the training data has, so the
    weights average 1 over its n labelled positions; a label it lacks never weighs in a training
    loss, and keeps 1. A mapping weighs the labels it names; the others keep 1."""
    if setting == "none":
        return None
    if setting == "balanced":
        # scikit-learn's compute_class_weight would need every labelled position, and refuses absent labels.
        present = sum(1 for count in counts if count)
        return [sum(counts) / (present * count) if count else 1.0 for count in counts]
    unknown = [label for label in setting if label not in labels]
    if unknown:
        raise PipelineError(
            f"class_weights names label '{unknown[0]}', which the data lacks; its labels are {', '.join(labels)}"
        )
    return [float(setting.get(label, 1.0)) for label in labels]


def weighted_loss(outputs, labels: torch.Tensor, weights: list[float] | None) -> torch.Tensor:
    """A batch's loss: the model's own cross-entropy, or with class weights torch's weighted one, the mean
    over labelled positions weighted by their labels' weights (sum of w * loss / sum of w)."""
    if weights is None:
        return outputs.loss
    logits = outputs.logits
    # In full precision, as the weights are: under autocast the logits may be bf16 or fp16.
    return torch.nn.functional.cross_entropy(
        logits.flatten(0, -2).float(),
        labels.flatten(),
        weight=torch.tensor(weights, device=logits.device),
        ignore_index=IGNORED,
    )


def load_model(model: ModelSource, labels: list[str], task: TaskName):
    """The pretrained encoder with a new head for ``labels``. transformers' load report (quiet unless
    --verbose) lists the new head's weights as missing, as they always are; weights the encoder itself
    lacks start random too, and are worth a warning."""
    loaded, loading = (
        profile_of(task)
        .model_class()
        .from_pretrained(
            model.location,
            revision=model.revision,
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id={label: i for i, label in enumerate(labels)},
            output_loading_info=True,
            use_safetensors=not model.pickle_weights,  # a pickle only when --allow-pickle-weights let it through
        )
    )
    untrained = encoder_missing(loading["missing_keys"], loaded.base_model_prefix)
    if untrained and is_main_process() and not is_verbose():
        print(
            f"warning: {model.hub_id or model.location} has no weights for {len(untrained)} of the encoder's "
            f"parameters ({', '.join(untrained[:3])}{', ...' if len(untrained) > 3 else ''}): they start random",
            file=sys.stderr,
        )
    return loaded


def encoder_missing(missing_keys, base_model_prefix: str) -> list[str]:
    """The missing weights that belong to the encoder (under ``base_model_prefix``), not to the new head."""
    return sorted(key for key in missing_keys if key.startswith(f"{base_model_prefix}."))


def by_length(rows: datasets.Dataset) -> datasets.Dataset:
    """The rows shortest first: evaluation batches then pad little (scores do not depend on the order)."""
    lengths = [len(ids) for ids in rows["input_ids"]]
    return rows.select(sorted(range(len(rows)), key=lengths.__getitem__))


def load_inputs(request: TrainRequest) -> TrainInputs:
    """The tokenized splits, label names, tokenizer and a freshly headed model, seeded first so
    every engine and every process starts from the same weights."""
    from transformers import set_seed

    tokenized = read_json(Path(request.tokenized_dir) / TOKENIZE_SUMMARY)
    labels = tokenized["labels"]
    dataset = datasets.load_from_disk(request.tokenized_dir)
    dataset["validation"] = by_length(dataset["validation"])
    tokenizer = load_tokenizer(request.model)
    # Saved with the model: a pipeline then reads the inputs the model was trained on, longer ones
    # truncated or (with stride) in windows, as evaluation reads them.
    tokenizer.model_max_length = tokenized["max_length"]
    weights = class_weight_vector(request.training.class_weights, labels, label_counts(dataset["train"], len(labels)))
    set_seed(request.training.seed)
    model = load_model(request.model, labels, request.task)
    # Saved with the model too: prediction reads each sentence with the context the model learned from.
    setattr(model.config, TRAINED_CONTEXT, tokenized["context"])
    check_label_ids(dataset, labels, model.config.num_labels)
    return TrainInputs(dataset, labels, tokenizer, model, weights)


def early_stopping_record(training: TrainingConfig, history: list[dict], stopped: bool, best: dict) -> dict | None:
    """What early stopping did: its settings, the validation passes that ran, the one that stopped training (when
    it did) and the one kept, each counted from 1 with its epoch; None without early stopping."""
    if training.early_stopping_patience is None:
        return None
    passes = [entry for entry in history if f"eval_{training.metric}" in entry]
    kept = next(number for number, entry in enumerate(passes, 1) if entry["step"] == best["step"])
    return {
        "patience": training.early_stopping_patience,
        "threshold": training.early_stopping_threshold,
        "evaluations": len(passes),
        "stopped_at": {"evaluation": len(passes), "epoch": passes[-1]["epoch"]} if stopped else None,
        "kept": {"evaluation": kept, "epoch": best["epoch"]},
    }


def write_records(request: TrainRequest, inputs: TrainInputs, history: list[dict], best: dict, facts: dict) -> None:
    """History and summary beside the saved model: the same files whichever engine trained."""
    output = Path(request.output)
    write_json(output / TRAIN_HISTORY, history)
    write_json(
        output / TRAIN_SUMMARY,
        {
            "base_model": request.model.hub_id or request.model.location,
            "hyperparameters": request.training,
            "num_rows": {split: len(rows) for split, rows in inputs.dataset.items()},
            "best_metric": {"name": f"validation {request.training.metric}", "value": best["value"]},
            "best_epoch": best["epoch"],
            "best_step": best["step"],
            "weights_sha256": weights_sha256(output),  # the model's identity, read without its weights
            "class_weights": dict(zip(inputs.labels, inputs.class_weights)) if inputs.class_weights else None,
            **facts,
        },
    )

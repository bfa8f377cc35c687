"""The training section of the config: epochs, batch, learning rate and its schedule, precision, engine,
processes and nodes, evaluation and early stopping, class weights, tracking."""

import math
from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from tasks.config.recipe import AUTO, recipes_help
from tasks.config.sections import WEIGHTINGS, Auto, ClassWeights, MixedPrecision, Seeded


class TrainingConfig(Seeded):
    learning_rate: float | Auto = Field(
        AUTO,
        description="Peak learning rate of AdamW; auto: by the model's size and the task, from published fine-tuning "
        f"recipes ({recipes_help()}), stated on the card.",
    )
    epochs: float = Field(1.0, gt=0, description="Passes over the training slice.")
    batch_size: int = Field(16, ge=1, description="Training sentences per step.")
    eval_batch_size: int = Field(64, ge=1, description="Sentences per forward pass in evaluation.")
    evals_per_epoch: int = Field(
        1,
        ge=1,
        description="Validation passes per epoch, evenly spaced in steps; each is recorded in the training history "
        "with the seconds since training began, and the best is the model kept. A run of one epoch with one pass "
        "leaves it to the evaluate step, which scores the same model on validation.",
    )
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay.")
    warmup_ratio: float | Auto = Field(
        AUTO, description="Fraction of steps spent warming the learning rate up; auto: the learning rate's recipe's."
    )
    lr_scheduler: Literal["linear", "cosine", "constant", "constant_with_warmup"] = Field(
        "linear", description="Learning-rate schedule after warm-up."
    )
    gradient_accumulation_steps: int = Field(
        1, ge=1, description="Batches whose gradients add up to one optimizer step (a larger effective batch)."
    )
    mixed_precision: MixedPrecision = Field(
        "auto",
        description="Compute in half precision: auto picks bf16 where the GPU has it, fp16 on GPUs without it, "
        "and on a CPU bf16 where it has AMX (Linux's amx_bf16 and amx_tile flags, as on recent Intel Xeons), full "
        "precision elsewhere; bf16 also runs on a CPU without AMX, where it was measured many times slower; fp16 needs "
        "a GPU.",
    )
    engine: Literal["trainer", "accelerate"] = Field(
        "trainer",
        description="Training loop: the transformers Trainer, or a plain Accelerate loop (the Hugging Face "
        "course's); both write the same model directory.",
    )
    num_processes: int = Field(
        1,
        ge=1,
        description="Train in this many processes, started with torchrun: one per GPU on a multi-GPU machine, "
        "or a gloo group on CPU. Each process takes batch_size examples per step.",
    )
    num_nodes: int = Field(
        1,
        ge=1,
        description="Machines training together, each running num_processes processes, joined by torchrun at "
        "rdzv_endpoint; node 0 writes the model, the others start with node_rank 1, 2, ...",
    )
    class_weights: ClassWeights = Field(
        "none",
        description="Weigh the cross-entropy of each label (for NER each token's, O included) in the loss: none; "
        "balanced, n / (k * count) for a label on count of the training slice's n labelled tokens or examples, k "
        "being the labels it has (scikit-learn's rule; a label it lacks keeps 1); or, in --config, a mapping of "
        "label to weight above 0 (labels it does not name keep 1).",
    )
    metric: str = Field(
        "f1",
        description="The score that picks the checkpoint kept, stops training early, ranks a sweep's trials and the "
        "quality gate compares. NER: f1 (conlleval's entity F1) or strict_f1 (seqeval's strict IOB2 matching). "
        "Sequence classification: f1 (for two classes the F1 of label id 1, as GLUE reports MRPC; labels sort "
        "alphabetically, so that may be the majority class; else macro-F1), macro_f1, accuracy, or f1:<label> "
        "(one label's F1, such as f1:fraud).",
    )
    early_stopping_patience: int | None = Field(
        None,
        ge=1,
        description="Stop training after this many validation passes in a row that do not improve the metric by "
        "more than early_stopping_threshold; the best pass's model is kept. Needs more than one pass (epochs above 1 "
        "or evals_per_epoch above 1). none: train every epoch.",
    )
    early_stopping_threshold: float = Field(
        0.0, ge=0, description="The least rise of the metric that counts as an improvement for early stopping."
    )
    report_to: Literal["none", "tensorboard", "mlflow"] = Field(
        "none",
        description="Experiment tracking, through the engine's own integration: tensorboard writes event files "
        "into the model artifact (tensorboard/) and the final scores into the evaluation artifact's; mlflow logs "
        "parameters, metrics per logged step and evaluation, "
        "the final scores and the release to MLFLOW_TRACKING_URI (default: a SQLite store in the artifacts "
        "directory, mlflow/), experiment MLFLOW_EXPERIMENT_NAME (default finetune).",
    )

    @field_validator("learning_rate", "warmup_ratio", mode="before")
    @classmethod
    def _none_is_auto(cls, value: Any) -> Any:
        """none, as a config file of before auto may say, is auto: the default the model's recipe fills in."""
        return AUTO if value is None or (isinstance(value, str) and value.lower() == "none") else value

    @field_validator("learning_rate", "warmup_ratio")
    @classmethod
    def _in_range(cls, value: float | str, info) -> float | str:
        """One message for a number out of range (pydantic would add one for each member of the union)."""
        if value == AUTO:
            return value
        if info.field_name == "learning_rate" and not value > 0:
            raise PydanticCustomError("greater_than", "Input should be greater than 0")
        if info.field_name == "warmup_ratio" and not 0 <= value < 1:
            raise PydanticCustomError("range", "Input should be at least 0 and below 1")
        return value

    @field_validator("early_stopping_patience")
    @classmethod
    def _several_passes(cls, patience: int | None, info) -> int | None:
        if patience and info.data.get("epochs", 1) <= 1 and info.data.get("evals_per_epoch", 1) == 1:
            raise PydanticCustomError(
                "passes", "needs more than one validation pass: set epochs above 1 or evals_per_epoch above 1"
            )
        return patience

    @property
    def single_evaluation(self) -> bool:
        """One validation pass in all, at the end of training: there is no checkpoint to choose, and the
        evaluate step scores that model on validation anyway, so training does not."""
        return self.epochs <= 1 and self.evals_per_epoch == 1

    @field_validator("class_weights", mode="before")
    @classmethod
    def _class_weights(cls, value: Any) -> Any:
        """Checked before pydantic tries each member of the union: one message a mistake, not one a member."""
        if not isinstance(value, dict):
            if value in WEIGHTINGS:
                return value
            raise PydanticCustomError(
                "class_weights", "'{value}' is not none, balanced or a mapping of label to weight", {"value": value}
            )
        for label, weight in value.items():
            # Above 0: a batch whose labels all weighed 0 would have a loss of 0 / 0.
            if not isinstance(weight, (int, float)) or not 0 < weight < math.inf:
                raise PydanticCustomError(
                    "class_weight",
                    "the weight of '{label}' is {weight}: class weights are numbers above 0",
                    {"label": label, "weight": weight},
                )
        return {str(label): weight for label, weight in value.items()}  # YAML reads a label such as 1 as a number

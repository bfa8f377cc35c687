"""The pipeline's one configuration: flow parameters, CLI options, YAML keys and UI form.

`FinetuneConfig` is flat, so a CLI option, a YAML key and a Prefect form field all
carry the same name. It is assembled from sections; each task takes only the
section it depends on, so its cache key changes only when that section does.
"""

import math
import re
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from tasks.config.recipe import AUTO, recipes_help
from tasks.data.assets import EMBEDDED_CONLL2003, EMBEDDED_CONLL2003_PAIRS, EMBEDDED_MODEL, EMBEDDED_MOVIE_REVIEWS
from tasks.scores.run_metric import metric_problem
from tasks.storage.buckets import ArtifactsLocation


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def section(self, section: "type[Section]") -> "Section":
        """The part of this config that ``section`` names: what a step takes, so its key changes only with it."""
        return section.model_validate(self.model_dump(include=set(section.model_fields)))


class _Seeded(_Section):
    seed: int = Field(42, description="Seed for the training slice, initialisation and shuffling.")


TaskName = Literal["ner", "sequence-classification"]
MixedPrecision = Literal["auto", "no", "bf16", "fp16"]
Weighting = Literal["none", "balanced"]
WEIGHTINGS = typing.get_args(Weighting)
ClassWeights = Weighting | dict[str, float]  # a weighting by name, or a weight per label name
# Defaults that depend on --task, filled in where a field is left as none. An NER model under F1 0.1
# finds almost no entity; for classification the gate's own chance floor (one label for everything)
# is the one that matters. The learning rate depends on the model too: `tasks.config.recipe`.
TASK_DEFAULTS: dict[str, dict[str, Any]] = {
    "ner": {"dataset": EMBEDDED_CONLL2003, "min_score": 0.1},
    "sequence-classification": {"dataset": EMBEDDED_CONLL2003_PAIRS, "min_score": 0.0},
}
Auto = Literal["auto"]


def _per_task(field: str) -> str:
    return "none: " + ", ".join(f"{defaults[field]} for {task}" for task, defaults in TASK_DEFAULTS.items()) + "."


class ColumnsConfig(_Section):
    """Which columns of the user's files hold the words, texts, tags and labels, and how text files are encoded."""

    tokens_column: str = Field("tokens", description="Column holding each sentence's words.")
    tags_column: str = Field("ner_tags", description="NER: column holding each word's tag (strings or ClassLabel ids).")
    text_columns: list[str] | None = Field(
        None,
        min_length=1,
        max_length=2,
        description="Sequence classification: the text column, or two for a pair task; none picks "
        "sentence1 and sentence2 when the data has both, else text or sentence.",
    )
    label_column: str = Field(
        "label", description="Sequence classification: column holding each example's label (strings or ClassLabel ids)."
    )
    document_column: str | None = Field(
        None,
        description="NER: column holding each sentence's document (any id), so that context reads the sentences "
        "around it (JSON lines, CSV, TSV, Parquet; the rows of a document in reading order). CoNLL files mark "
        "documents with -DOCSTART- lines.",
    )
    encoding: str | None = Field(
        None,
        description="Encoding of local text files (CoNLL, JSON lines, CSV, TSV), such as latin-1 or cp1252; "
        "none: UTF-8, with or without a byte-order mark.",
    )

    @field_validator("encoding")
    @classmethod
    def _text_encoding(cls, encoding: str | None) -> str | None:
        if encoding is None:
            return encoding
        try:
            "".encode(encoding)  # unlike codecs.lookup, this also refuses codecs that are not text encodings (rot13)
        except LookupError:
            raise PydanticCustomError(
                "unknown_encoding",
                "'{encoding}' is not a text encoding Python knows; use one such as latin-1 or cp1252",
                {"encoding": encoding},
            ) from None
        return encoding


class DataConfig(_Seeded, ColumnsConfig):
    dataset: str | None = Field(
        None,
        description="Hub dataset id, a local file or folder (CoNLL text, JSON lines, CSV, TSV, Parquet; for NER also "
        "annotation tools' exports of texts with character spans: doccano, Label Studio, spaCy-style spans), or an "
        f"embedded dataset: {EMBEDDED_CONLL2003} (CoNLL-2003 English NER), {EMBEDDED_CONLL2003_PAIRS} (sentence "
        f"pairs derived from it: consecutive or not), {EMBEDDED_MOVIE_REVIEWS} (movie review snippets, positive or "
        "negative; downloaded by setup.sh). " + _per_task("dataset"),
    )
    dataset_config: str | None = Field(None, description="Configuration name of a Hub dataset.")
    dataset_revision: str | None = Field(None, description="Branch, tag or commit of a Hub dataset to pin.")
    max_train_samples: int | None = Field(
        6000,
        ge=1,
        description="Train on a seeded random slice of this many sentences (of whole documents, as many as reach "
        "it, when the data marks documents); none for all.",
    )
    max_eval_samples: int | None = Field(
        None, ge=1, description="Evaluate on the first N sentences of validation and test; none for all."
    )
    strict: bool = Field(
        False,
        description="NER from span-annotated JSON (doccano, Label Studio, spaCy-style spans): fail on the first "
        "row left out (a span that cuts a word, overlaps another, runs past the text, is empty or has an empty "
        "label) instead of reporting each kind and training on the rest.",
    )


class ModelConfig(_Section):
    model: str = Field(
        EMBEDDED_MODEL,
        description=f"Hub model id, a local model directory, or {EMBEDDED_MODEL} (installed by setup.sh).",
    )
    model_revision: str | None = Field(None, description="Branch, tag or commit of a Hub model to pin.")
    allow_pickle_weights: bool = Field(
        False,
        description="Load a base model whose weights are only a pickle (pytorch_model.bin), which can run any code "
        "it holds as it loads; refused otherwise. The card says so. Remote code (trust_remote_code) is never run.",
    )


class TokenizationConfig(_Section):
    max_length: int = Field(
        128,
        ge=8,
        le=8192,
        description="Tokens per model input. NER: a longer sentence becomes overlapping windows of whole words, "
        "each word scored from the window where it has the most context; sequence classification: longer texts "
        "are truncated, and counted in the log and on the card.",
    )
    stride: int | None = Field(
        None,
        ge=0,
        description="NER: sub-words that consecutive windows of a long sentence share, below max_length; "
        "none: a quarter of max_length.",
    )
    context: int = Field(
        0,
        ge=0,
        description="NER: sub-words of the sentences before and after each sentence in its document that the "
        "model reads with it, up to this many in all (half at most after it) within max_length; 0 reads each "
        "sentence alone. Only the sentence's "
        "own words are labelled, scored and predicted. Documents: CoNLL's -DOCSTART- lines, document_column, "
        "blank lines in plain text to predict; a row longer than max_length is read a sentence at a time.",
    )
    label_alignment: Literal["all-subwords", "first-subword"] = Field(
        "all-subwords",
        description="Labels of continuation sub-words: all-subwords gives them the word's label with B- turned "
        "into I- (the Hugging Face course's rule); first-subword ignores them in the loss.",
    )

    @model_validator(mode="after")
    def _stride_below_length(self) -> "TokenizationConfig":
        if self.stride is not None and self.stride >= self.max_length:
            raise PydanticCustomError(
                "stride",
                "stride {stride} is not below max_length {max_length}: windows would not advance",
                {"stride": self.stride, "max_length": self.max_length},
            )
        return self

    @property
    def window_stride(self) -> int:
        """The stride windows use: the one set, else a quarter of max_length."""
        return self.max_length // 4 if self.stride is None else self.stride


class TrainingConfig(_Seeded):
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


class QuantizationConfig(_Section):
    quantize: Literal["none", "int8"] = Field(
        "none",
        description="int8: also ship onnxruntime's dynamic int8 quantization of the ONNX export "
        "(onnx/model_quantized.onnx), only when its F1 on the evaluated split is within max_quantized_drop of the "
        "full-precision model's; the card states both either way.",
    )
    max_quantized_drop: float = Field(
        0.005, ge=0, le=1, description="The most F1 the int8 model may lose against the full-precision one and ship."
    )


class ExportConfig(QuantizationConfig):
    export: Literal["none", "onnx"] = Field(
        "none",
        description="onnx: also ship the model as ONNX (onnx/model.onnx beside the tokenizer), exported with torch.onnx "
        "and shipped only when onnxruntime's predictions agree with PyTorch's on the evaluated split (the same argmax "
        "on at least 99.9 % of tokens, F1 within 0.001); needs pip install '.[onnx]'.",
    )


class RunConfig(_Section):
    """How this run goes: the task, where artifacts live, resuming, nodes, the check and the card's facts."""

    task: TaskName = Field(
        "ner",
        description="What to fine-tune for: ner (token classification) or sequence-classification (single texts or pairs).",
    )
    artifacts_dir: ArtifactsLocation = Field(
        Path("artifacts"),
        description="Where every artifact is kept: a directory, or a bucket's fsspec URL (s3://bucket/prefix, gs://…, "
        "az://…) with its backend installed (pip install '.[s3]'); with a bucket, steps build and fetch in "
        "FINETUNE_STAGING_DIR (default ~/.cache/finetune/staging).",
    )
    refresh: bool = Field(False, description="Ignore cached results and recompute every step.")
    verbose: bool = Field(
        False,
        description="Show the libraries' own output too: datasets' progress bars, transformers' load reports and "
        "warnings, the Trainer's raw metric dicts, and Prefect's line at the end of each step.",
    )
    resume: bool = Field(
        False,
        description="Continue an interrupted training run from its last complete epoch checkpoint (same settings "
        "give the same checkpoints folder); without it an interrupted run starts over.",
    )
    node_rank: int = Field(
        0,
        ge=0,
        description="This machine's place among num_nodes: 0 trains and writes the model, 1 and up only join "
        "its training.",
    )
    rdzv_endpoint: str | None = Field(
        None,
        description="With num_nodes above 1: host:port on node 0 that every node reaches, where torchrun's "
        "processes meet (such as 10.0.0.1:29500).",
    )
    train_deployment: str | None = Field(
        None,
        description="Run train and evaluate as a run of this Prefect deployment (train-evaluate/gpu in "
        "deployments/prefect.yaml) on its work pool, and wait for it; the artifacts directory must be storage "
        "both pools reach. none: in this process.",
    )
    check_text: str | None = Field(
        None, description="Text the saved model is tried on after training; none: a built-in example for the task."
    )
    check_text_pair: str | None = Field(
        None, description="Second text of that check, for pair tasks; none: a built-in example."
    )
    license: str | None = Field(
        None,
        description="Licence of the fine-tuned model for its card when the base model's is not known (a Hub "
        "licence id such as apache-2.0); none: the base model's, else unknown.",
    )
    language: list[str] | None = Field(
        None,
        description="Language codes of the training data for the card; none: en for the embedded datasets "
        "(all English), else unstated.",
    )
    label_issues: bool = Field(
        False,
        description="Rank the training sentences (or texts) whose tags (or label) a model contradicts most "
        "strongly, in label_issues.jsonl (a step of its own) with each one's file and line: two models, each "
        "trained on half the training split with this run's recipe for twice its epochs, score the other half "
        "(about two more trainings' time).",
    )


class GateConfig(_Section):
    """The quality gate: when a new model is published (pushed, or recorded in the local registry)."""

    min_improvement: float = Field(
        0.0,
        ge=0,
        description="Quality gate: publish (push, or record in the local registry) only when the new model's F1 on "
        "the evaluated split beats the published model's on the same data by more than this.",
    )
    min_score: float | None = Field(
        None,
        ge=0,
        description="Quality gate floor: never publish a model whose F1 on the evaluated split is not above this, "
        "nor one no better than giving every example the same label; " + _per_task("min_score"),
    )
    max_overlap: float = Field(
        0.05,
        ge=0,
        le=1,
        description="Quality gate: never publish when more than this share of the evaluated split's examples also "
        "appear in train (the same text once whitespace is normalised, as the data report counts them): a leaked "
        "split's score says nothing about new data. CoNLL-2003's own test split shares 3.6 % of its sentences "
        "with train (table headings such as 'W L PCT GB').",
    )
    max_label_shift: float = Field(
        0.2,
        ge=0,
        le=1,
        description="Warn, in the log and on the card, when the training data's label distribution (NER: entities "
        "by type) is further than this from the published model's, as total variation distance (0 the same, 1 no "
        "label in common); never refuses.",
    )
    force_publish: bool = Field(
        False,
        description="Publish even when the quality gate refuses (a worse model, a published model that cannot be "
        "scored, a score under the floor, an evaluated split leaked from train); logged and written on the card.",
    )


class HubConfig(_Section):
    """Where a published model is pushed on the Hub, and the token it is pushed with."""

    hub_model_id: str | None = Field(
        None,
        description="Push the model to this Hub repo (name or organisation/name); needs a token in HF_TOKEN or "
        "hub_token_secret; none to skip.",
    )
    hub_private: bool = Field(True, description="Create the Hub repo as private.")
    hub_revision: str | None = Field(None, description="Branch to push to, created when missing; none: main.")
    hub_token_secret: str | None = Field(
        None, description="Name of a Prefect Secret block holding the Hub token, read when HF_TOKEN is not set."
    )


Section = TypeVar("Section", bound=_Section)


def node_group_problem(num_nodes: int, node_rank: int, rdzv_endpoint: str | None) -> str | None:
    """Why these settings cannot make a group of training nodes, or None when they can."""
    example = "(such as 10.0.0.1:29500)"
    if node_rank >= num_nodes:
        return f"node_rank {node_rank} is not below num_nodes {num_nodes}: nodes are numbered from 0 to {num_nodes - 1}"
    if num_nodes == 1 and rdzv_endpoint:
        return "rdzv_endpoint is for num_nodes above 1 (one node's processes meet on a free local port)"
    if num_nodes > 1 and rdzv_endpoint is None:
        return f"num_nodes {num_nodes} needs rdzv_endpoint: the host:port on node 0 that every node reaches {example}"
    endpoint = re.fullmatch(r"(?P<host>\S+):(?P<port>\d{1,5})", rdzv_endpoint or "", re.ASCII)
    if rdzv_endpoint and not (endpoint and 0 < int(endpoint["port"]) < 65536):
        return f"rdzv_endpoint '{rdzv_endpoint}' is not host:port with a port from 1 to 65535 {example}"
    return None


class FinetuneConfig(
    ExportConfig, TrainingConfig, TokenizationConfig, ModelConfig, DataConfig, HubConfig, GateConfig, RunConfig
):
    """Everything one fine-tuning run needs; every field is a CLI option of the same name."""

    @model_validator(mode="before")
    @classmethod
    def _task_defaults(cls, values: Any) -> Any:
        if not isinstance(values, dict):
            return values
        defaults = TASK_DEFAULTS.get(values.get("task", "ner"), TASK_DEFAULTS["ner"])
        return {**values, **{name: value for name, value in defaults.items() if values.get(name) is None}}

    @model_validator(mode="after")
    def _node_group(self) -> "FinetuneConfig":
        problem = node_group_problem(self.num_nodes, self.node_rank, self.rdzv_endpoint)
        if problem is None and self.resume and self.num_nodes > 1:
            # Nodes other than 0 keep their processes' checkpoint states (random generators) in a throw-away
            # folder, so they could not restart where node 0 does.
            problem = "resume works on one node only; with num_nodes above 1, run again without resume"
        if problem is None and self.train_deployment and self.num_nodes > 1:
            # A deployment's run is one process on one worker; the nodes are started together, one per machine.
            problem = (
                "num_nodes above 1 runs as python -m flows.finetune on every node (a Kubernetes indexed job, "
                "or a process per machine), not through train_deployment"
            )
        if problem:
            raise PydanticCustomError("node_group", "{problem}", {"problem": problem})
        return self

    @field_validator("metric")
    @classmethod
    def _a_metric_of_the_task(cls, metric: str, info) -> str:
        """Checked here, where the task is known (it is validated first); named as the metric's problem."""
        problem = metric_problem(metric, info.data["task"]) if "task" in info.data else None
        if problem:
            raise PydanticCustomError("metric", "{problem}", {"problem": problem})
        return metric

    @field_validator("context", "document_column")
    @classmethod
    def _ner_only(cls, value: Any, info) -> Any:
        if value and info.data.get("task", "ner") != "ner":
            raise PydanticCustomError(
                info.field_name,
                "for NER only, whose sentences have neighbours in a document; {task} reads each text alone",
                {"task": info.data["task"]},
            )
        return value

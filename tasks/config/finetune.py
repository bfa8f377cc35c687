"""The finetune flow's config: the run's own section, the quality gate's and the Hub's, and `FinetuneConfig`,
which is every section at once (flow parameters = CLI options = YAML keys = UI form)."""

import re
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from tasks.config.sections import (
    TASK_DEFAULTS,
    ConfigSection,
    DataConfig,
    ExportConfig,
    ModelConfig,
    TaskName,
    TokenizationConfig,
    per_task,
)
from tasks.config.training import TrainingConfig
from tasks.scores.run_metric import metric_problem
from tasks.storage.buckets import ArtifactsLocation


class RunConfig(ConfigSection):
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


class GateConfig(ConfigSection):
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
        "nor one no better than giving every example the same label; " + per_task("min_score"),
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


class HubConfig(ConfigSection):
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

"""Task profiles: what differs between tasks, in one package per task.

A step asks its task's profile instead of branching on the task's name, so another task
(extractive QA, say) is one new package here, named like the task (``-`` as ``_``):

- ``__init__.py``: ``PROFILE``, the `TaskProfile` facts every step may read;
- one part per step, a module with the functions that step calls, reached as an attribute of the
  profile (``profile.tokenization.tokenize(...)``) and typed by a Protocol here: `LoadPart`,
  `DataReportPart`, `TokenizationPart`, `TrainingPart`, `EvaluationPart`, `CheckPart`,
  `QualityGatePart` and `ModelCardPart`.

A step's cache key covers the parts its code reaches as ``profile.<part>`` or
``profile_of(...).<part>`` (`tasks.storage.keys`), so an edit to how NER is tokenized re-runs
tokenization and training, not loading or the card. Parts are imported when first reached: heavy
libraries stay out of the flow module and of cached runs.
"""

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, cast

from tasks.config.sections import DataConfig, TaskName, TokenizationConfig

# The normalized column of a pair task's second text: its presence is what makes a task a pair task.
PAIR_COLUMN = "text_pair"


def is_pair(columns: list[str]) -> bool:
    """True when a loaded dataset's columns are those of a pair task (two texts per example)."""
    return PAIR_COLUMN in columns


def label_names(model) -> list[str]:
    """A model's label names, in the order of its outputs."""
    return [model.config.id2label[i] for i in range(model.config.num_labels)]


@dataclass
class Normalized:
    """What a task's part of load makes of the source's splits: the splits in the task's columns, the
    label list, and what the load summary states beyond them (NER's tag scheme)."""

    splits: dict  # split name -> datasets.Dataset
    labels: list[str]
    facts: dict = field(default_factory=dict)


@dataclass
class Tokenized:
    """What a task's part of tokenize makes of a split: the model's inputs, and how many examples were
    longer than max_length (NER splits them into windows, classification truncates them)."""

    rows: object  # datasets.Dataset
    long_inputs: int


@dataclass(frozen=True)
class Scoring:
    """How a task's part of evaluate scores a split (and the predict flow predicts one): the inputs' length
    and windows, the batch size, and the tag scheme predictions are written in (NER: the training data's,
    see `tasks.data.tag_schemes`)."""

    tokenization: object  # tasks.config.sections.TokenizationConfig
    batch_size: int
    tag_scheme: str | None = None
    progress: str = "evaluate"  # the progress bar's name


class LoadPart(Protocol):
    def source_columns(self, found: list[str], data: DataConfig) -> list[str]: ...

    def normalize(self, raw, source, data: DataConfig, columns: list[str]) -> Normalized: ...


class DataReportPart(Protocol):
    EXAMPLES: str  # what the task's examples are called: sentences, examples

    def texts(self, rows) -> list[tuple[str, ...]]: ...

    def words(self, rows) -> list[list[str]]: ...

    def subword_lengths(self, rows, tokenizer) -> list[int]: ...

    def label_counts(self, rows) -> dict[str, int]: ...

    def notes(self, train_counts: dict[str, int]) -> list[str]: ...


class TokenizationPart(Protocol):
    LONG_INPUTS: str  # what becomes of an input longer than max_length

    def tokenize(
        self, rows, tokenizer, labels: list[str], tokenization: TokenizationConfig, split: str
    ) -> Tokenized: ...


class TrainingPart(Protocol):
    def collator(self, tokenizer): ...

    def validation_scores(self, predicted: list, gold: list, labels: list[str]) -> dict: ...


class EvaluationPart(Protocol):
    def score(self, model, tokenizer, rows, scoring: Scoring, predictions: Path, errors: Path) -> dict: ...

    def draw_figures(self, split: str, scores: dict, out: Path) -> list[dict]: ...


class CheckPart(Protocol):
    def example(self, pair: bool) -> tuple[str, str | None]: ...

    def run(self, model_dir: str, text: str, text_pair: str | None, tokenization: TokenizationConfig) -> dict: ...

    def describe(self, result: dict) -> str: ...


class QualityGatePart(Protocol):
    def chance_score(self, rows: Callable, labels: list[str], metric: str) -> float: ...


class ModelCardPart(Protocol):
    NAME: str  # the Hub's task name in eval results
    WHAT: str
    TAGS: tuple[str, ...]
    HOW_SCORED: str
    UNCASED_COST: str
    OTHER_TASKS_SETTINGS: frozenset[str]  # settings of the other tasks, left off the card
    PIPELINE_OPTIONS: str
    LONG_INPUTS: str

    def purpose(self, pair: bool) -> str: ...

    def does(self, labels: list[str], pair: bool) -> str: ...

    def scheme_line(self, dataset: dict) -> list[str]: ...

    def detail_tables(self, split: str, scores: dict) -> list[str]: ...

    def usage(self, result: dict) -> tuple[str, list[str]]: ...


# Each step's part: the profile's attribute, the task package's module and the Protocol it satisfies.
PARTS = {
    "load": LoadPart,
    "data_report": DataReportPart,
    "tokenization": TokenizationPart,
    "training": TrainingPart,
    "evaluation": EvaluationPart,
    "check": CheckPart,
    "quality_gate": QualityGatePart,
    "model_card": ModelCardPart,
}


def package_of(task: TaskName) -> str:
    """The profile package of ``task``."""
    return f"{__name__}.{task.replace('-', '_')}"


@dataclass(frozen=True)
class TaskProfile:
    """One task's facts, and its part of each step."""

    task: TaskName
    short_name: str  # in default model names: <base>-finetuned-<short_name>
    pipeline: str  # the transformers pipeline and the Hub's pipeline tag
    head: str  # the transformers Auto class of the model with its head
    metrics: tuple[str, ...]  # the headline metrics, in the order cards and tables show them
    count: str  # the metrics.json key counting evaluated examples
    per_token: bool  # one prediction per token (processes pad them before gathering), not one per example

    def _part(self, name: str):
        return importlib.import_module(f"{package_of(self.task)}.{name}")

    @property
    def load(self) -> LoadPart:
        return cast(LoadPart, self._part("load"))

    @property
    def data_report(self) -> DataReportPart:
        return cast(DataReportPart, self._part("data_report"))

    @property
    def tokenization(self) -> TokenizationPart:
        return cast(TokenizationPart, self._part("tokenization"))

    @property
    def training(self) -> TrainingPart:
        return cast(TrainingPart, self._part("training"))

    @property
    def evaluation(self) -> EvaluationPart:
        return cast(EvaluationPart, self._part("evaluation"))

    @property
    def check(self) -> CheckPart:
        return cast(CheckPart, self._part("check"))

    @property
    def quality_gate(self) -> QualityGatePart:
        return cast(QualityGatePart, self._part("quality_gate"))

    @property
    def model_card(self) -> ModelCardPart:
        return cast(ModelCardPart, self._part("model_card"))

    def model_class(self):
        import transformers

        return getattr(transformers, self.head)


def profile_of(task: TaskName) -> TaskProfile:
    return importlib.import_module(package_of(task)).PROFILE

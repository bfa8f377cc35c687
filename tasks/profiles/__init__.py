"""Task profiles: what differs between tasks, in one package per task.

A step asks its task's profile instead of branching on the task's name, so another task
(extractive QA, say) is one new package here, named like the task (``-`` as ``_``):

- ``__init__.py``: ``PROFILE``, the `TaskProfile` facts every step may read;
- one part per step module, named like it, with the functions that step calls:
  ``load`` (``source_columns``, ``normalize`` giving `Normalized`), ``data_report`` (``EXAMPLES``, ``texts``,
  ``words``, ``subword_lengths``, ``label_counts``), ``tokenization`` (``tokenize`` giving `Tokenized`,
  ``LONG_INPUTS``),
  ``training`` (``collator``, ``validation_scores``), ``evaluation`` (``score``, ``draw_figures``),
  ``check`` (``example``, ``run``, ``describe``), ``quality_gate`` (``chance_score``) and
  ``model_card`` (the card's task-specific text).

A step's cache key covers its own module's part only (`tasks.fingerprints`), so an edit to how
NER is tokenized re-runs tokenization and training, not loading or the card. Parts are imported
when first asked for: heavy libraries stay out of the flow module and of cached runs.
"""

import importlib
from dataclasses import dataclass, field
from types import ModuleType

from tasks.config import TaskName

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
    """How a task's part of evaluate scores a split: the inputs' length and windows, the batch size, and
    the tag scheme predictions are written in (NER: the training data's, see `tasks.tag_schemes`)."""

    tokenization: object  # tasks.config.TokenizationConfig
    batch_size: int
    tag_scheme: str | None = None


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

    def part(self, module: str) -> ModuleType:
        """This task's part of step module ``module``: ``tasks.tokenization`` -> ``<package>.tokenization``."""
        return importlib.import_module(f"{package_of(self.task)}.{module.rpartition('.')[2]}")

    def model_class(self):
        import transformers

        return getattr(transformers, self.head)


def profile_of(task: TaskName) -> TaskProfile:
    return importlib.import_module(package_of(task)).PROFILE

"""Task profiles: what differs between tasks, in one package per task.

A step asks its task's profile instead of branching on the task's name, so another task
(extractive QA, say) is one new package here, named like the task (``-`` as ``_``):

- ``__init__.py``: ``PROFILE``, the `TaskProfile` facts every step may read;
- one part per step module, named like it, with the functions that step calls:
  ``load`` (``source_columns``, ``normalize``), ``tokenization`` (``tokenize``),
  ``training`` (``collator``, ``validation_scores``), ``evaluation`` (``score``, ``draw_figures``),
  ``check`` (``example``, ``run``, ``describe``), ``quality_gate`` (``chance_score``) and
  ``model_card`` (the card's task-specific text).

A step's cache key covers its own module's part only (`tasks.fingerprints`), so an edit to how
NER is tokenized re-runs tokenization and training, not loading or the card. Parts are imported
when first asked for: heavy libraries stay out of the flow module and of cached runs.
"""

import importlib
from dataclasses import dataclass
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

"""What a model card states, as the release step gathers it from the run's artifacts (`tasks.steps.release`), and
the names it gives the base model and the dataset."""

from pathlib import Path

from pydantic import BaseModel

from tasks.config.sections import TaskName
from tasks.profiles import ModelCardPart, TaskProfile, is_pair, profile_of
from tasks.scores.run_metric import scored_names
from tasks.steps.evaluate import evaluated_split
from tasks.storage.catalog import PLOTS


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


def dataset_name(facts: CardFacts) -> str:
    option = str(facts.hyperparameters.get("dataset") or facts.dataset["source"]["location"])
    return dataset_display_name(facts.dataset_hub_id, option)


def hub_id(reference: str) -> str | None:
    """``reference`` when it is a Hub model id (namespace/name), None for a local directory: the flow
    passes one or the other, directories as absolute paths."""
    local = reference.startswith(("/", ".", "~")) or reference.count("/") != 1
    return None if local else reference

"""What a training run is asked to do, and the names of the files every engine writes: the light
part of the engines, which the flow, the card and the launcher import without the training stack."""

from pydantic import BaseModel, model_validator

from tasks.config.recipe import AUTO
from tasks.config.sections import TaskName
from tasks.config.training import TrainingConfig
from tasks.pretrained import ModelSource
from tasks.tracking import MlflowTarget


class TrainRequest(BaseModel):
    """One training run, as every process of it receives it."""

    tokenized_dir: str
    model: ModelSource
    training: TrainingConfig
    task: TaskName
    checkpoints: str
    output: str
    resume: bool = False
    mlflow: MlflowTarget | None = None  # where to log, with training.report_to "mlflow"

    @model_validator(mode="after")
    def _numbers(self) -> "TrainRequest":
        if AUTO in (self.training.learning_rate, self.training.warmup_ratio):
            raise ValueError(
                "training takes its learning rate and warm-up as numbers: fill auto in with the model's "
                "recipe first (tasks.config.recipe.with_recipe)"
            )
        return self

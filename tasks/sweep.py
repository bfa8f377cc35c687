"""Hyper-parameter sweeps: the sweep file, the search space as Optuna samples it, and the report.

A sweep is a base run's options (``base``), a search space over training and tokenization options
(``search``: a list of values, or a ``{low, high, log}`` range), a strategy (grid, random, or Optuna's
TPE), a number of trials and how many run at once. Its flow is `flows.sweep`.
"""

import hashlib
import itertools
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tasks.config.file import load_config_file, unset_words
from tasks.config.finetune import FinetuneConfig
from tasks.config.sections import TokenizationConfig
from tasks.config.training import TrainingConfig
from tasks.errors import PipelineError

# What a trial may vary: how the model is trained and tokenized, never the data nor the metric it is judged by.
SEARCHABLE = (set(TrainingConfig.model_fields) | set(TokenizationConfig.model_fields)) - {
    "num_processes",
    "num_nodes",
    "report_to",
    "metric",
}


class Range(BaseModel):
    """A range to sample from: integers when both ends are integers (and not ``log``), else floats."""

    model_config = ConfigDict(extra="forbid")
    low: float | int
    high: float | int
    log: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> "Range":
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs low > 0 (got {self.low})")
        return self

    @property
    def integer(self) -> bool:
        return isinstance(self.low, int) and isinstance(self.high, int) and not self.log


Space = list[Any] | Range


class SweepConfig(BaseModel):
    """A sweep: the sweep file's keys, the flow's parameters and the UI form at once."""

    model_config = ConfigDict(extra="forbid")
    base: FinetuneConfig = Field(
        default_factory=FinetuneConfig, description="The options every trial starts from, as in --config run.yaml."
    )
    strategy: Literal["grid", "random", "tpe"] = Field(
        "tpe",
        description="grid: every combination of the listed values; random: independent samples; tpe: "
        "Optuna's Tree-structured Parzen Estimator, which samples near the best trials so far.",
    )
    search: dict[str, Space] = Field(
        description="Option name -> a list of values, or {low, high, log} for a range (log: sampled log-uniformly)."
    )
    trials: int | None = Field(
        None, ge=1, description="Trials to run (random and tpe); grid: at most this many of its combinations."
    )
    parallel: int = Field(1, ge=1, description="Trials at once: threads here, or runs of the train deployment.")
    seed: int = Field(0, description="Seed of the sampler: the same sweep samples the same trials.")

    @field_validator("search", mode="before")
    @classmethod
    def _spaces(cls, search: Any) -> Any:
        """Each option's space: a list as it is, a mapping as a `Range` (so an error names the range's problem)."""
        if not isinstance(search, dict):
            return search
        spaces = {}
        for name, space in search.items():
            if isinstance(space, dict):
                try:
                    space = Range.model_validate(space)
                except ValidationError as error:
                    raise ValueError(
                        f"{name}: " + "; ".join(item["msg"].removeprefix("Value error, ") for item in error.errors())
                    ) from None
            elif not isinstance(space, (list, Range)):
                raise ValueError(f"{name}: give a list of values or a range {{low, high, log}}, not {space!r}")
            spaces[name] = space
        return spaces

    @field_validator("search")
    @classmethod
    def _searchable(cls, search: dict[str, Space]) -> dict[str, Space]:
        if not search:
            raise ValueError("name at least one option to search")
        unknown = sorted(set(search) - SEARCHABLE)
        if unknown:
            raise ValueError(f"cannot search {', '.join(unknown)}: searchable are {', '.join(sorted(SEARCHABLE))}")
        empty = [name for name, space in search.items() if isinstance(space, list) and not space]
        if empty:
            raise ValueError(f"no values to try for {', '.join(empty)}")
        return search

    @model_validator(mode="after")
    def _strategy_fits(self) -> "SweepConfig":
        ranges = [name for name, space in self.search.items() if isinstance(space, Range)]
        if self.strategy == "grid" and ranges:
            raise ValueError(f"grid needs a list of values, not a range, for {', '.join(ranges)}")
        if self.strategy != "grid" and self.trials is None:
            raise ValueError(f"{self.strategy} needs a number of trials")
        for values in self.candidates():
            trial_config(self.base, values)  # every value must make a valid run
        return self

    def candidates(self) -> list[dict[str, Any]]:
        """Every listed value and both ends of every range, one option at a time: what validation tries."""
        ends = {
            name: space if isinstance(space, list) else [space.low, space.high] for name, space in self.search.items()
        }
        return [{name: value} for name, values in ends.items() for value in values]

    def grid(self) -> list[dict[str, Any]]:
        names = list(self.search)
        return [dict(zip(names, values)) for values in itertools.product(*(self.search[name] for name in names))]

    def planned_trials(self) -> int:
        return min(len(self.grid()), self.trials or len(self.grid())) if self.strategy == "grid" else self.trials

    def key(self) -> str:
        """The sweep's folder name: a digest of what decides its trials (not how many run at once)."""
        payload = self.model_dump(mode="json", exclude={"parallel"})
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def trial_config(base: FinetuneConfig, values: dict[str, Any]) -> FinetuneConfig:
    """The base options with a trial's values: validated as any run's are, naming the offending value."""
    try:
        return FinetuneConfig.model_validate({**base.model_dump(exclude_unset=False), **values})
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, item['loc']))}: {item['msg']}" for item in error.errors())
        raise ValueError(f"trial values {values} do not make a valid run: {problems}") from None


def new_study(config: SweepConfig):
    """An Optuna study that asks the sweep's trials in order: a grid's combinations as listed (queued
    trials: Optuna's GridSampler stops the study from inside, which only its optimize loop allows), or a
    seeded random or TPE sampler's values."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if config.strategy == "tpe":
        sampler = optuna.samplers.TPESampler(seed=config.seed)
    else:
        sampler = optuna.samplers.RandomSampler(seed=config.seed)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    if config.strategy == "grid":
        for values in config.grid()[: config.planned_trials()]:
            study.enqueue_trial(values)
    return study


def suggest(trial, search: dict[str, Space]) -> dict[str, Any]:
    """One trial's values, asked of Optuna in the search's order."""
    values = {}
    for name, space in search.items():
        if isinstance(space, list):
            values[name] = trial.suggest_categorical(name, space)
        elif space.integer:
            values[name] = trial.suggest_int(name, space.low, space.high)
        else:
            values[name] = trial.suggest_float(name, space.low, space.high, log=space.log)
    return values


class TrialResult(BaseModel):
    """One trial as the report states it."""

    number: int
    params: dict[str, Any]
    state: Literal["completed", "failed"]
    metric: str = "f1"  # the run's --metric, which the sweep maximises on validation (never on test)
    validation: dict[str, float] | None = None  # the headline metrics and the run's own (`scored_names`)
    test: dict[str, float] | None = None
    seconds: float
    cached: bool = False  # every step taken from its artifact
    error: str | None = None
    model_dir: str | None = None
    evaluation_dir: str | None = None

    @property
    def objective(self) -> float | None:
        return self.validation[self.metric] if self.validation else None


def winner(trials: list[TrialResult]) -> TrialResult | None:
    """The completed trial with the best validation metric (the first of equals)."""
    completed = [trial for trial in trials if trial.state == "completed"]
    return max(completed, key=lambda trial: trial.objective, default=None)


def most_influential(study, search: dict[str, Space]) -> str:
    """The searched option that most explains the validation metric (Optuna's fANOVA importance); with one option,
    or too few completed trials to tell, the first option searched."""
    from optuna.importance import get_param_importances

    names = list(search)
    if len(names) == 1:
        return names[0]
    try:
        return next(iter(get_param_importances(study)), names[0])
    except (RuntimeError, ValueError):  # fewer than two completed trials, or no option varied
        return names[0]


def report_rows(trials: list[TrialResult], names: tuple[str, ...]) -> list[dict[str, Any]]:
    """One table row per trial: its values, validation and test scores, seconds and how it ended."""
    rows = []
    for trial in trials:
        scores = {
            f"{split} {name}": round(values[name], 4) if values else None
            for split, values in (("validation", trial.validation), ("test", trial.test))
            for name in names
        }
        how = "failed" if trial.state == "failed" else "cached" if trial.cached else "ran"
        rows.append({"trial": trial.number, **trial.params, **scores, "seconds": trial.seconds, "result": how})
    return rows


def load_sweep_file(path: Path) -> SweepConfig:
    """The sweep file, validated; ``none`` in its base options means unset, as in a run's config file."""
    values = load_config_file(path)
    base = values.get("base") or {}
    if not isinstance(base, dict):
        raise PipelineError(f"sweep file {path}: base must be a mapping of finetune options")
    try:
        return SweepConfig.model_validate(
            {**values, "base": unset_words({str(k).replace("-", "_"): v for k, v in base.items()})}
        )
    except ValidationError as error:
        problems = [f"{'.'.join(map(str, item['loc'])) or 'sweep'}: {item['msg']}" for item in error.errors()]
        raise PipelineError(f"invalid sweep ({path}): " + "; ".join(problems)) from error

"""Sweep plans: the sweep file, the sampled trials, the winner and the report rows, without a run."""

import re

import pytest
import yaml

from tasks.errors import PipelineError
from tasks.sweep import Range, SweepConfig, TrialResult, load_sweep_file, report_rows, winner


def test_a_sweep_file_is_validated_naming_what_is_wrong(tmp_path):
    path = tmp_path / "sweep.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "base": {"epochs": 2, "max-train-samples": "none"},
                "strategy": "random",
                "search": {"learning_rate": {"low": 1e-5, "high": 1e-3, "log": True}},
                "trials": 3,
            }
        )
    )
    config = load_sweep_file(path)
    assert config.base.epochs == 2 and config.base.max_train_samples is None
    assert config.search["learning_rate"] == Range(low=1e-5, high=1e-3, log=True)
    wrong = {
        "dataset": {"search": {"dataset": ["a"]}, "trials": 2},
        "grid needs a list of values, not a range, for learning_rate": {
            "strategy": "grid",
            "search": {"learning_rate": {"low": 1e-5, "high": 1e-3}},
        },
        "random needs a number of trials": {"strategy": "random", "search": {"epochs": [1, 2]}},
        "learning_rate: Input should be greater than 0": {"search": {"learning_rate": [0.0]}, "trials": 2},
        "search: Value error, epochs: low (3) must be below high (1)": {
            "search": {"epochs": {"low": 3, "high": 1}},
            "trials": 2,
        },
        "epochs: give a list of values or a range {low, high, log}, not 3": {"search": {"epochs": 3}, "trials": 2},
    }
    for message, values in wrong.items():
        path.write_text(yaml.safe_dump(values))
        with pytest.raises(PipelineError, match=rf"invalid sweep \({re.escape(str(path))}\): .*{re.escape(message)}"):
            load_sweep_file(path)


def test_samplers_are_seeded_and_grid_covers_every_combination():
    from tasks.sweep import new_study, suggest

    def asked(config: SweepConfig, count: int) -> list[dict]:
        study = new_study(config)
        values = []
        for _ in range(count):
            trial = study.ask()
            values.append(suggest(trial, config.search))
            study.tell(trial, 0.5)
        return values

    search = {"learning_rate": Range(low=1e-5, high=1e-3, log=True), "epochs": Range(low=1, high=3)}
    for strategy in ("random", "tpe"):
        config = SweepConfig(strategy=strategy, search=search, trials=4)
        first = asked(config, 4)
        assert first == asked(config, 4)  # the same sweep samples the same trials
        assert asked(config, 6)[:4] == first  # a widened one starts with them
        assert all(1e-5 <= v["learning_rate"] <= 1e-3 and v["epochs"] in (1, 2, 3) for v in first)
    grid = SweepConfig(
        strategy="grid", search={"learning_rate": [1e-4, 2e-4], "label_alignment": ["all-subwords", "first-subword"]}
    )
    assert grid.planned_trials() == 4
    assert asked(grid, 4) == grid.grid()


def test_the_winner_is_the_best_completed_trial_by_validation_f1():
    def trial(number, f1, state="completed"):
        scores = {"f1": f1, "precision": f1} if state == "completed" else None
        return TrialResult(
            number=number, params={"epochs": number}, state=state, validation=scores, test=scores, seconds=1.0
        )

    trials = [trial(0, 0.5), trial(1, 0.7), trial(2, None, "failed"), trial(3, 0.7)]
    assert winner(trials).number == 1
    assert winner([trials[2]]) is None
    rows = report_rows(trials, ("f1",))
    assert rows[1] == {"trial": 1, "epochs": 1, "validation f1": 0.7, "test f1": 0.7, "seconds": 1.0, "result": "ran"}
    assert rows[2]["result"] == "failed" and rows[2]["validation f1"] is None

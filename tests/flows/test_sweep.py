"""Whole sweeps of the tiny model: inline, two at a time, cached, widened, with a failing trial."""

import json
from pathlib import Path

import pytest
import yaml

from conftest import ui_artifacts
from tasks.config.finetune import FinetuneConfig
from tasks.sweep import SweepConfig


def sweep_config(tiny_model, conll_sample, artifacts: Path, **changes) -> SweepConfig:
    base = FinetuneConfig(
        model=str(tiny_model),
        dataset=str(conll_sample),
        artifacts_dir=artifacts,
        max_train_samples=None,
        batch_size=8,
        eval_batch_size=16,
        epochs=1,
    )
    values = {
        "base": base,
        "strategy": "grid",
        "parallel": 2,
        "search": {"learning_rate": [1e-3, 3e-3], "label_alignment": ["all-subwords", "first-subword"]},
    }
    return SweepConfig(**{**values, **changes})


def trial_task_runs(flow_run_id: str) -> list:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, TaskRunFilter, TaskRunFilterName

    with get_client(sync_client=True) as client:
        return client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
            task_run_filter=TaskRunFilter(name=TaskRunFilterName(like_="trial")),
        )


@pytest.fixture(scope="module")
def first_sweep(prefect_server, tiny_model, conll_sample, tmp_path_factory):
    from flows.sweep import sweep

    config = sweep_config(tiny_model, conll_sample, tmp_path_factory.mktemp("sweep") / "artifacts")
    return config, sweep(config)


@pytest.mark.slow
def test_a_four_trial_sweep_runs_two_at_a_time_and_publishes_the_best(first_sweep):
    config, summary = first_sweep
    trials = summary.trials
    assert len(trials) == 4 and all(t.state == "completed" and not t.cached for t in trials)
    assert sorted(json.dumps(t.params, sort_keys=True) for t in trials) == sorted(
        json.dumps(values, sort_keys=True) for values in config.grid()
    )
    assert summary.winner == max(trials, key=lambda t: t.validation["f1"])
    # Two at a time: trial task runs overlap in time.
    runs = sorted(trial_task_runs(summary.flow_run_id), key=lambda run: run.start_time)
    assert len(runs) == 4 and runs[1].start_time < runs[0].end_time
    # Loaded once; tokenized once per label alignment; a model per trial.
    root = config.base.artifacts_dir
    assert [len(list((root / step).glob("[!.]*"))) for step in ("dataset", "tokenized", "model")] == [1, 2, 4]
    report = json.loads((Path(summary.report_dir) / "sweep.json").read_text())
    assert [t["params"] for t in report["trials"]] == [t.params for t in trials]
    assert report["winner"]["number"] == summary.winner.number and report["objective"] == "validation f1"
    assert report["most_influential"] in config.search
    # The winner went through check, gate and card as a run does, and its card names the sweep.
    release = Path(summary.run.model_dir)
    assert summary.run.decision.publish
    card = (release / "README.md").read_text()
    assert "Chosen by a hyper-parameter sweep (grid): of its 4 trials, the one with the best validation F1" in card
    assert "[sweep/sweep.json](sweep/sweep.json)" in card and (release / "sweep" / "sweep.json").is_file()
    assert f"| learning_rate | {summary.winner.params['learning_rate']:g} |" in card


@pytest.mark.slow
def test_the_sweep_report_is_in_the_prefect_ui(first_sweep):
    import base64

    _, summary = first_sweep
    by_key = ui_artifacts(summary.flow_run_id)
    rows = json.loads(by_key["sweep-trials"].data)
    assert [row["trial"] for row in rows] == [t.number for t in summary.trials]
    assert {row["result"] for row in rows} == {"ran"}
    plot = base64.b64decode(by_key["sweep-plot"].data.removeprefix("data:image/png;base64,"))
    assert plot == (Path(summary.report_dir) / "sweep.png").read_bytes()


@pytest.mark.slow
def test_a_rerun_from_the_command_line_takes_every_trial_from_cache(first_sweep, tmp_path, capsys):
    from flows.sweep import main

    config, summary = first_sweep
    sweep_file = tmp_path / "sweep.yaml"
    sweep_file.write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
    # In this process, against the test server (test_flow.py runs a command line as a process of its own).
    assert main(["--config", str(sweep_file), "--summary-json", str(tmp_path / "s.json")]) == 0
    again = json.loads((tmp_path / "s.json").read_text())
    assert [t["cached"] for t in again["trials"]] == [True] * 4
    assert [t["params"] for t in again["trials"]] == [t.params for t in summary.trials]
    assert again["winner"]["number"] == summary.winner.number
    assert "Winner:   trial" in capsys.readouterr().out


@pytest.mark.slow
def test_a_widened_sweep_runs_only_the_new_trials(first_sweep, tiny_model, conll_sample):
    from flows.sweep import sweep

    config, _ = first_sweep
    wider = config.model_copy(update={"search": {**config.search, "learning_rate": [1e-3, 3e-3, 1e-2]}})
    summary = sweep(wider)
    new = [t.params for t in summary.trials if not t.cached]
    assert len(summary.trials) == 6 and len(new) == 2
    assert all(values["learning_rate"] == 1e-2 for values in new)


@pytest.mark.slow
def test_a_failed_trial_is_recorded_and_the_sweep_goes_on(prefect_server, tiny_model, conll_sample, tmp_path):
    from flows.sweep import sweep

    config = sweep_config(
        tiny_model, conll_sample, tmp_path / "artifacts", parallel=1, search={"mixed_precision": ["no", "fp16"]}
    )
    summary = sweep(config)
    by_precision = {t.params["mixed_precision"]: t for t in summary.trials}
    assert by_precision["fp16"].state == "failed" and "fp16 needs a CUDA GPU" in by_precision["fp16"].error
    assert by_precision["no"].state == "completed" and summary.winner.params == {"mixed_precision": "no"}
    card = (Path(summary.run.model_dir) / "README.md").read_text()
    assert "of its 2 trials (1 failed)" in card

"""--report-to: what TensorBoard and MLflow received, read back with their own readers."""

import json
from pathlib import Path

import pytest

from conftest import ui_artifacts
from flows.finetune import finetune
from tasks.config.finetune import FinetuneConfig
from tasks.storage.catalog import TRAIN_HISTORY, TRAIN_SUMMARY

pytestmark = pytest.mark.slow
ENGINES = pytest.mark.parametrize("engine", ["trainer", "accelerate"])
# The final scores of each split the trackers get: NER's headline metrics, and F1 by strict IOB2 rules and by
# SemEval's partial matches.
FINAL_SCORES = ("precision", "recall", "f1", "accuracy", "strict_f1", "partial_f1")


def final_scores(scores: dict) -> dict[str, float]:
    """A split's `FINAL_SCORES`, as metrics.json holds them."""
    partial_f1 = scores["partial_match"]["overall"]["partial"]["f1"]
    return {**{name: scores[name] for name in FINAL_SCORES if name != "partial_f1"}, "partial_f1": partial_f1}


def tracked_run(tiny_model, conll_sample, artifacts: Path, **overrides):
    config = FinetuneConfig(
        model=str(tiny_model),
        dataset=str(conll_sample),
        artifacts_dir=artifacts,
        batch_size=8,
        eval_batch_size=16,
        learning_rate=1e-3,
        epochs=2,
        **overrides,
    )
    summary = finetune(config)
    model_dir = Path(next(step.path for step in summary.steps if step.name == "train"))
    evaluations = [entry for entry in json.loads((model_dir / TRAIN_HISTORY).read_text()) if "eval_f1" in entry]
    return config, summary, model_dir, evaluations


@ENGINES
def test_tensorboard_event_files_hold_each_evaluation(engine, prefect_server, tiny_model, conll_sample, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _, summary, model_dir, evaluations = tracked_run(
        tiny_model, conll_sample, tmp_path, engine=engine, report_to="tensorboard"
    )
    trained = json.loads((model_dir / TRAIN_SUMMARY).read_text())
    assert trained["tensorboard_dir"] == "tensorboard"
    # Accelerate's tracker writes its parameters (hparams) as a run of their own, in a folder beside the metrics.
    runs = {path.parent for path in (model_dir / "tensorboard").rglob("events.out.tfevents.*")}
    [scalars] = [
        run for run in (EventAccumulator(str(folder)).Reload() for folder in runs) if "eval/f1" in run.Tags()["scalars"]
    ]
    for name in ("f1", "loss"):
        logged = [(event.step, event.value) for event in scalars.Scalars(f"eval/{name}")]
        assert logged == [(entry["step"], pytest.approx(entry[f"eval_{name}"])) for entry in evaluations]
    # The final scores are the evaluation artifact's event files (the model artifact is complete once training
    # ends), at the step whose weights were kept.
    evaluation_dir = Path(next(step.path for step in summary.steps if step.name == "evaluate"))
    final = EventAccumulator(str(evaluation_dir / "tensorboard")).Reload()
    tags = sorted(f"{split}/{name}" for split in summary.metrics for name in FINAL_SCORES)
    assert sorted(final.Tags()["scalars"]) == tags
    for split, scores in summary.metrics.items():
        for name, value in final_scores(scores).items():
            assert [(event.step, event.value) for event in final.Scalars(f"{split}/{name}")] == [
                (trained["best_step"], pytest.approx(value))
            ]


@ENGINES
def test_mlflow_run_holds_parameters_metrics_scores_and_release(
    engine, prefect_server, tiny_model, conll_sample, tmp_path, monkeypatch
):
    from mlflow import MlflowClient

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    config, summary, model_dir, evaluations = tracked_run(
        tiny_model, conll_sample, tmp_path, engine=engine, report_to="mlflow"
    )
    facts = json.loads((model_dir / TRAIN_SUMMARY).read_text())
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("finetune")
    [run] = client.search_runs([experiment.experiment_id])
    assert run.info.run_id == facts["mlflow_run_id"]
    assert float(run.data.params["learning_rate"]) == 1e-3
    history = client.get_metric_history(run.info.run_id, "eval_f1")
    assert [(point.step, point.value) for point in history] == [
        (entry["step"], pytest.approx(entry["eval_f1"])) for entry in evaluations
    ]
    # The Prefect UI's metrics table shows the same scores.
    table = {row.pop("split"): row for row in json.loads(ui_artifacts(summary.flow_run_id)["ner-metrics"].data)}
    for split, scores in summary.metrics.items():
        expected = final_scores(scores)
        assert {name: run.data.metrics[f"{split}_{name}"] for name in FINAL_SCORES} == pytest.approx(expected)
        assert table[split] == {name: round(value, 4) for name, value in expected.items()}
    release = {artifact.path for artifact in client.list_artifacts(run.info.run_id, "release")}
    assert {"release/README.md", "release/model.safetensors", "release/plots"} <= release
    # The artifacts live under the artifacts directory too, not in the working directory.
    assert list((tmp_path / "mlflow" / "artifacts").rglob("README.md"))
    # An identical run is taken from cache: nothing new to track.
    finetune(config)
    assert len(client.search_runs([experiment.experiment_id])) == 1


def test_a_tracker_that_is_not_installed_is_named_before_any_work(monkeypatch):
    import importlib.util

    from tasks.errors import PipelineError
    from tasks.tracking import require_tracker

    require_tracker("none")
    require_tracker("mlflow")  # installed by setup.sh
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *args: None if name == "mlflow" else real(name, *args)
    )
    with pytest.raises(
        PipelineError, match=r"--report-to mlflow needs the mlflow package: pip install -e '\.\[tracking\]'"
    ):
        require_tracker("mlflow")

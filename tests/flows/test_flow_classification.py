"""Sequence classification through the whole flow, single texts and pairs, on a tiny real model."""

import csv
import json
from pathlib import Path

import pytest
import yaml

from conftest import progress_shown
from flows.finetune import finetune
from tasks.config.finetune import FinetuneConfig

pytestmark = pytest.mark.slow


def tiny_config(model: Path, artifacts: Path, **overrides) -> FinetuneConfig:
    return FinetuneConfig(
        task="sequence-classification",
        model=str(model),
        artifacts_dir=artifacts,
        batch_size=8,
        eval_batch_size=16,
        learning_rate=1e-3,
        **overrides,
    )


@pytest.fixture(scope="module", params=["trainer", "accelerate"])
def pair_run(request, prefect_server, tiny_model, tmp_path_factory):
    config = tiny_config(
        tiny_model,
        tmp_path_factory.mktemp("artifacts"),
        max_train_samples=64,
        max_eval_samples=24,
        engine=request.param,
    )
    return config, finetune(config)


def test_pair_task_writes_metrics_predictions_and_card(pair_run):
    config, summary = pair_run
    assert config.dataset == "embedded:conll2003-pairs"
    scores = summary.metrics["test"]
    assert scores["num_examples"] == 24
    assert set(scores) >= {"accuracy", "f1", "macro_f1", "per_class", "confusion_matrix"}
    matrix = scores["confusion_matrix"]["rows_gold_columns_predicted"]
    assert sum(map(sum, matrix)) == 24 and scores["confusion_matrix"]["labels"] == ["unrelated", "consecutive"]
    evaluation = Path(next(step.path for step in summary.steps if step.name == "evaluate"))
    with open(evaluation / "predictions" / "test.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert list(rows[0]) == ["text", "text_pair", "gold", "predicted", "probability"]
    assert len(rows) == 24 and all(0.5 <= float(row["probability"]) <= 1 for row in rows)
    assert summary.check["prediction"]["label"] in ("unrelated", "consecutive")
    assert summary.check["text_pair"]
    card = (Path(summary.model_dir) / "README.md").read_text()
    metadata = yaml.safe_load(card.split("---\n")[1])
    assert metadata["pipeline_tag"] == "text-classification"
    assert "datasets" not in metadata  # derived data has no Hub id
    assert "Derived data: sentence pairs built from CoNLL-2003" in card
    assert 'pipeline("text-classification"' in card and "'text_pair':" in card
    figures = json.loads((Path(summary.model_dir) / "plots" / "figures.json").read_text())
    assert [figure["file"] for figure in figures] == ["training_curves.png", "f1_per_class.png", "confusion.png"]
    for figure in figures:
        assert (Path(summary.model_dir) / "plots" / figure["file"]).read_bytes().startswith(b"\x89PNG")
        assert f"(plots/{figure['file']})" in card


def test_training_progress_is_shown_and_a_single_evaluation_is_left_to_the_evaluate_step(pair_run):
    """For both engines: the share of steps done, as the train step last showed it. One epoch with one
    evaluation: training scores no validation, and the evaluate step's validation scores close the history."""
    _, summary = pair_run
    model_dir, evaluation_dir = (
        Path(next(step.path for step in summary.steps if step.name == name)) for name in ("train", "evaluate")
    )
    trained = json.loads((model_dir / "training_history.json").read_text())
    assert [entry for entry in trained if "eval_f1" in entry or "eval_loss" in entry] == []
    steps = json.loads((model_dir / "train_summary.json").read_text())["best_step"]
    shown = progress_shown(summary.flow_run_id)
    assert shown.type == "progress" and shown.data == 100.0
    assert shown.description == f"Training: step {steps} of {steps} (epoch 1.00)"
    scored = json.loads((evaluation_dir / "training_history.json").read_text())
    validation = {
        f"eval_{name}": value for name, value in summary.metrics["validation"].items() if isinstance(value, float)
    }
    assert scored == [*trained, {**validation, "epoch": 1.0, "step": steps}]
    assert (
        json.loads((Path(summary.model_dir) / "training_history.json").read_text()) == scored
    )  # what the release ships


def test_saved_pair_model_loads_with_its_label_names(pair_run):
    from transformers import AutoConfig

    _, summary = pair_run
    assert AutoConfig.from_pretrained(summary.model_dir).id2label == {0: "unrelated", 1: "consecutive"}


def test_the_pair_model_predicts_a_csv_of_pairs_and_scores_it_as_the_evaluate_step(pair_run, tmp_path):
    """The released pair model over the evaluated pairs written as a CSV file: every class's probability
    per pair, and --score giving the evaluate step's figures."""
    import datasets

    from flows.predict import predict_flow
    from tasks.config.prediction import PredictConfig

    config, summary = pair_run
    test = datasets.load_from_disk(next(step.path for step in summary.steps if step.name == "load"))["test"]
    names = test.features["label"].names
    table = tmp_path / "pairs.csv"
    with open(table, "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["sentence1", "sentence2", "label"])
        writer.writerows([row["text"], row["text_pair"], names[row["label"]]] for row in test)
    predicted = predict_flow(
        PredictConfig(
            model=summary.model_dir,
            input=str(table),
            artifacts_dir=config.artifacts_dir,
            score=True,
            batch_size=config.eval_batch_size,
        )
    )
    expected = summary.metrics["test"]
    assert {name: predicted.scores[name] for name in expected} == expected
    with open(Path(predicted.output_dir) / "predictions.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == len(test) == predicted.rows and list(rows[0]) == ["line", "text", "text_pair", "label", *names]
    for row, pair in zip(rows, test):
        probabilities = [float(row[name]) for name in names]
        assert row["text_pair"] == pair["text_pair"] and abs(sum(probabilities) - 1) < 0.001
        assert row["label"] == names[probabilities.index(max(probabilities))]
    assert sum(predicted.counts["labels"].values()) == len(test)


def test_pair_task_second_run_is_fully_cached(pair_run):
    config, summary = pair_run
    again = finetune(config)
    assert [step.name for step in again.steps if not step.cached] == []
    assert again.metrics == summary.metrics


@pytest.mark.parametrize("engine", ["trainer", "accelerate"])
def test_single_text_multiclass_from_csv_with_class_weights(engine, prefect_server, tiny_model, tmp_path):
    folder = tmp_path / "reviews"
    folder.mkdir()
    texts = ["a fine film", "dull and long", "it was ok", "superb acting", "boring plot", "average at best"]
    labels = ["pos", "neg", "mid"] * 2
    for split in ("train", "validation"):
        with open(folder / f"{split}.csv", "w", newline="") as stream:
            writer = csv.writer(stream)
            writer.writerow(["review", "stars"])
            writer.writerows(zip(texts * 4, labels * 4))
    config = tiny_config(
        tiny_model,
        tmp_path / "artifacts",
        dataset=str(folder),
        text_columns=["review"],
        label_column="stars",
        engine=engine,
        class_weights={"neg": 2.0},
    )
    summary = finetune(config)
    assert set(summary.metrics) == {"validation"}
    scores = summary.metrics["validation"]
    assert scores["f1"] == scores["macro_f1"]
    assert scores["confusion_matrix"]["labels"] == ["mid", "neg", "pos"]
    assert summary.check["text_pair"] is None
    assert summary.check["prediction"]["label"] in ("mid", "neg", "pos")
    model_dir = Path(next(step.path for step in summary.steps if step.name == "train"))
    facts = json.loads((model_dir / "train_summary.json").read_text())
    assert facts["engine"] == engine
    assert facts["class_weights"] == {"mid": 1.0, "neg": 2.0, "pos": 1.0}  # labels the mapping does not name keep 1
    assert "| class_weights | mid 1, neg 2, pos 1 |" in (Path(summary.model_dir) / "README.md").read_text()

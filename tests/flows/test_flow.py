"""The whole flow on a tiny real model and real CoNLL sentences, under a Prefect test server."""

import json
import shutil
from pathlib import Path

import pytest

from conftest import ui_artifacts
from flows.finetune import finetune
from tasks.config.finetune import FinetuneConfig
from tasks.reports.markdown import shortened
from tasks.reports.mistakes import describe
from tasks.reports.model_card import card_for_display
from tasks.storage.artifacts import is_complete
from tasks.storage.catalog import FOLDERS, MANIFEST

pytestmark = pytest.mark.slow

STEPS = ["load", "data_report", "tokenize", "train", "evaluate", "check", "release"]


def tiny_config(model: Path, dataset: Path, artifacts: Path, **overrides) -> FinetuneConfig:
    return FinetuneConfig(
        model=str(model),
        dataset=str(dataset),
        artifacts_dir=artifacts,
        max_train_samples=None,
        batch_size=8,
        eval_batch_size=16,
        learning_rate=1e-3,
        **overrides,
    )


def ran(summary) -> list[str]:
    return [step.name for step in summary.steps if not step.cached]


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(path.relative_to(root)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in root.rglob("*")
        if path.is_file()
    }


@pytest.fixture(scope="module")
def first_run(prefect_server, tiny_model, conll_sample, tmp_path_factory):
    config = tiny_config(tiny_model, conll_sample, tmp_path_factory.mktemp("artifacts"))
    return config, finetune(config)


def test_first_run_writes_the_artifact_tree(first_run):
    config, summary = first_run
    root = config.artifacts_dir
    assert [step.name for step in summary.steps] == STEPS
    assert ran(summary) == STEPS
    assert sorted(p.name for p in root.iterdir() if not p.name.startswith(".")) == sorted(
        [*map(FOLDERS.get, STEPS), "registry.json"]
    )
    assert summary.decision.publish and summary.decision.reason == "nothing is published yet"
    for step in summary.steps:
        assert Path(step.path).parent == root / FOLDERS[step.name] and is_complete(Path(step.path))
    assert not (root / "checkpoints").exists() or not any((root / "checkpoints").iterdir())
    release = Path(summary.model_dir)
    assert {p.name for p in release.iterdir()} >= {
        "README.md",
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "metrics.json",
        "training_history.json",
        MANIFEST,
        "training_args.json",
    }
    assert not [path.name for path in release.rglob("*") if path.suffix in (".bin", ".pt", ".pkl", ".pth")], "no pickle"
    evaluation = Path(summary.steps[4].path)
    assert sorted(p.name for p in (evaluation / "predictions").iterdir()) == ["test.txt", "validation.txt"]
    assert set(summary.metrics) == {"validation", "test"}
    assert summary.metrics["test"]["num_sentences"] == 16
    assert 0 <= summary.metrics["test"]["f1"] <= 1
    assert not list(root.rglob("*.partial-*"))


def test_evaluation_runs_on_the_device_and_in_the_precision_training_chose(first_run):
    from tasks.hardware import compute_device
    from tasks.storage.catalog import EVALUATED_ON, TRAIN_SUMMARY
    from tasks.storage.files import read_json

    _, summary = first_run
    model, evaluation = (Path(step.path) for step in summary.steps if step.name in ("train", "evaluate"))
    trained, evaluated = read_json(model / TRAIN_SUMMARY), read_json(evaluation / EVALUATED_ON)
    assert evaluated["device"] == trained["device"] == compute_device().type
    assert evaluated["mixed_precision"] == trained["mixed_precision"]
    assert set(evaluated["seconds"]) == {"validation", "test"}


def test_saved_model_has_the_dataset_label_maps(first_run):
    from transformers import AutoConfig

    _, summary = first_run
    labels = ["O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
    config = AutoConfig.from_pretrained(summary.model_dir)
    assert config.id2label == dict(enumerate(labels))
    assert config.label2id == {label: i for i, label in enumerate(labels)}


def test_identical_second_run_takes_every_step_from_cache(first_run):
    config, summary = first_run
    again = finetune(config)
    assert ran(again) == []
    assert [step.path for step in again.steps] == [step.path for step in summary.steps]
    assert again.metrics == summary.metrics


def test_changed_learning_rate_reruns_only_train_and_after(first_run):
    config, summary = first_run
    changed = finetune(config.model_copy(update={"learning_rate": 5e-4}))
    assert ran(changed) == ["train", "evaluate", "check", "release"]
    assert changed.steps[2].path == summary.steps[2].path
    assert changed.steps[3].path != summary.steps[3].path


def test_a_champion_published_under_another_metric_is_rescored_under_the_runs(first_run):
    from flows.cli import format_summary

    config, summary = first_run
    judged = finetune(config.model_copy(update={"metric": "strict_f1", "learning_rate": 5e-4}))
    decision = judged.decision
    assert (decision.challenger.metric, decision.challenger.value) == (
        "strict_f1",
        round(judged.metrics["test"]["strict_f1"], 4),
    )
    # The registry states the published model's F1: it is scored again, on the same test split, by strict F1.
    assert "published" in ran(judged)
    assert (decision.champion.metric, decision.champion.value) == (
        "strict_f1",
        round(summary.metrics["test"]["strict_f1"], 4),
    )
    assert "strict_f1 on " in decision.reason
    lines = format_summary("ner", judged).splitlines()
    assert lines[1].endswith(
        f"test accuracy {judged.metrics['test']['accuracy']:.4f} f1 {judged.metrics['test']['f1']:.4f} "
        f"strict_f1 {judged.metrics['test']['strict_f1']:.4f}"
    )
    assert lines[2] == "Judged:   by strict_f1 (Strict F1)"


def test_changed_model_retokenizes(first_run, tmp_path):
    from conftest import build_tiny_model

    config, summary = first_run
    other = build_tiny_model(tmp_path / "other_model", seed=1, layers=1)
    changed = finetune(config.model_copy(update={"model": str(other)}))
    assert ran(changed) == STEPS[1:]


def test_deleted_tokenized_artifact_is_rebuilt(prefect_server, tiny_model, conll_sample, tmp_path):
    config = tiny_config(tiny_model, conll_sample, tmp_path / "artifacts")
    first = finetune(config)
    tokenized = Path(first.steps[2].path)
    shutil.rmtree(tokenized)
    second = finetune(config)
    assert ran(second) == ["tokenize"]
    assert is_complete(tokenized)
    (tokenized / "train" / "dataset_info.json").unlink()
    assert ran(finetune(config)) == ["tokenize"]
    assert ran(finetune(config.model_copy(update={"refresh": True}))) == STEPS


def test_run_publishes_metrics_table_and_model_card(first_run):
    _, summary = first_run
    by_key = ui_artifacts(summary.flow_run_id)
    assert by_key["model-card"].type == "markdown"
    card = (Path(summary.model_dir) / "README.md").read_text()
    assert by_key["model-card"].data == card_for_display(card)
    report = Path(next(step.path for step in summary.steps if step.name == "data_report"))
    assert by_key["data-report"].type == "markdown"
    assert by_key["data-report"].data == (report / "data_report.md").read_text()
    assert "| train | 48 | 1 | — |" in by_key["data-report"].data  # "BEIJING 1996-08-22" twice
    assert by_key["ner-metrics"].type == "table"
    assert '"split": "test"' in by_key["ner-metrics"].data


def test_the_mistakes_are_listed_shipped_counted_on_the_card_and_shown_in_the_ui(first_run):
    _, summary = first_run
    evaluation, release = Path(summary.steps[4].path), Path(summary.model_dir)
    assert sorted(p.name for p in (evaluation / "errors").iterdir()) == ["test.jsonl", "validation.jsonl"]
    shipped = (release / "errors" / "test.jsonl").read_text()
    assert shipped == (evaluation / "errors" / "test.jsonl").read_text()
    mistakes = [json.loads(line) for line in shipped.splitlines()]
    counted = summary.metrics["test"]["mistakes"]
    assert counted["wrong"] == len(mistakes) > 0 and counted["of"] == 16
    assert sum(counted["kinds"].values()) == sum(len(mistake["errors"]) for mistake in mistakes)
    assert [mistake["confidence"] for mistake in mistakes] == sorted((m["confidence"] for m in mistakes), reverse=True)
    # Every listed sentence is one whose predicted tags differ from its gold ones in predictions/test.txt.
    blocks = (evaluation / "predictions" / "test.txt").read_text().strip("\n").split("\n\n")
    for mistake in mistakes:
        lines = [line.split(" ") for line in blocks[mistake["row"]].splitlines()]
        assert [word for word, _, _ in lines] == mistake["words"] and any(gold != found for _, gold, found in lines)
    card = (release / "README.md").read_text()
    assert f"test: {describe(counted, 'sentences')}" in card and "listed in `errors/test.jsonl`" in card
    table = ui_artifacts(summary.flow_run_id)["ner-mistakes"]
    first = json.loads(table.data)[0]
    assert table.type == "table" and first["text"] == shortened(" ".join(mistakes[0]["words"]))
    assert first["errors"] == ", ".join(error["kind"] for error in mistakes[0]["errors"])


def test_release_ships_the_figures_the_card_embeds_and_the_ui_shows(first_run):
    """Training curves, F1 per entity type and the entity-type confusion: PNG files in the release's plots/,
    embedded by the card, and the same images (as data URLs) and the per-epoch table in the Prefect UI."""
    import base64
    import json

    from matplotlib.image import imread

    _, summary = first_run
    release = Path(summary.model_dir)
    figures = json.loads((release / "plots" / "figures.json").read_text())
    files = [figure["file"] for figure in figures]
    assert files == ["training_curves.png", "f1_per_type.png", "confusion.png"]
    card = (release / "README.md").read_text()
    for figure in figures:
        assert imread(release / "plots" / figure["file"]).shape[1] >= 700  # a real PNG, card-width
        assert f"![{figure['title']}](plots/{figure['file']})" in card
    # The curves sit with the training procedure, the scores' figures with the evaluation.
    assert card.index("training_curves.png") < card.index("## Evaluation") < card.index("confusion.png")
    # Every test word is counted once in the entity-type confusion: missed and spurious included.
    confusion = summary.metrics["test"]["entity_confusion"]
    evaluation = Path(next(step.path for step in summary.steps if step.name == "evaluate"))
    words = [line for line in (evaluation / "predictions" / "test.txt").read_text().splitlines() if line.strip()]
    assert sum(map(sum, confusion["rows_gold_columns_predicted"])) == len(words)
    assert confusion["labels"][-1] == "no entity"
    by_key = ui_artifacts(summary.flow_run_id)
    for key, file in (("ner-training-curves", "training_curves.png"), ("ner-confusion", "confusion.png")):
        assert by_key[key].type == "image"
        data = by_key[key].data.removeprefix("data:image/png;base64,")
        assert base64.b64decode(data) == (release / "plots" / file).read_bytes()
    history = json.loads((release / "training_history.json").read_text())
    evaluations = [entry for entry in history if "eval_f1" in entry]
    table = json.loads(by_key["training-epochs"].data)
    assert [row["step"] for row in table] == [entry["step"] for entry in evaluations]
    assert [row["validation f1"] for row in table] == [round(entry["eval_f1"], 4) for entry in evaluations]


def test_card_names_no_local_path(first_run):
    config, summary = first_run
    card = (Path(summary.model_dir) / "README.md").read_text()
    assert 'model="path/to/this/folder"' in card
    for path in (summary.model_dir, str(config.artifacts_dir), str(config.model), str(config.dataset)):
        assert path not in card
    assert "| test | 16 | 0 | 0 (0.0 %) | 0 |" in card  # the data report's figures


def test_a_run_with_an_empty_prefect_home_reuses_every_complete_artifact(
    prefect_server, tiny_model, conll_sample, tmp_path
):
    """The artifacts are the cache: a new machine's Prefect (no records of earlier runs) retrains nothing.
    Its temporary server's first start, with an empty home, is within the run's own start-up limit."""
    import json
    import os
    import subprocess
    import sys

    config = tiny_config(tiny_model, conll_sample, tmp_path / "artifacts")
    summary = finetune(config)
    env = {name: value for name, value in os.environ.items() if not name.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(tmp_path / "empty-home"))
    options = {
        "--model": config.model,
        "--dataset": config.dataset,
        "--artifacts-dir": str(config.artifacts_dir),
        "--max-train-samples": "none",
        "--batch-size": "8",
        "--eval-batch-size": "16",
        "--learning-rate": "0.001",
        "--summary-json": str(tmp_path / "summary.json"),
    }
    command = [sys.executable, "-m", "flows.finetune", *(part for pair in options.items() for part in pair)]
    finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert "Starting a temporary Prefect server on http://127.0.0.1:" in finished.stderr
    again = json.loads((tmp_path / "summary.json").read_text())
    assert [step["name"] for step in again["steps"] if not step["cached"]] == []
    assert [step["path"] for step in again["steps"]] == [step.path for step in summary.steps]
    assert again["decision"]["already_published"] and not again["decision"]["publish"]


def test_label_issues_rank_training_sentences_with_their_file_and_line(
    prefect_server, tiny_model, conll_sample, tmp_path
):
    summary = finetune(tiny_config(tiny_model, conll_sample, tmp_path, label_issues=True))
    assert [step.name for step in summary.steps] == [*STEPS[:2], "label_issues", *STEPS[2:]]
    issues_dir = Path(summary.steps[2].path)
    issues = [json.loads(line) for line in (issues_dir / "label_issues.jsonl").read_text().splitlines()]
    found = json.loads((issues_dir / "label_issues.json").read_text())
    train_rows = json.loads((Path(summary.steps[0].path) / "load_summary.json").read_text())["num_rows"]["train"]
    assert found["suspect"] == len(issues) > 0 and found["of"] == train_rows and found["unit"] == "sentences"
    assert [issue["score"] for issue in issues] == sorted((issue["score"] for issue in issues), reverse=True)
    lines = (conll_sample / "train.txt").read_text().splitlines()
    for issue in issues:
        assert issue["file"] == str(conll_sample / "train.txt") and issue["given"] != issue["suggested"]
        assert [
            line.split()[0] for line in lines[issue["line"] - 1 : issue["line"] - 1 + len(issue["words"])]
        ] == issue["words"]
    assert "# Suspect labels" in (issues_dir / "label_issues.md").read_text()
    assert "Suspect labels (`--label-issues`): " in (Path(summary.model_dir) / "README.md").read_text()
    table = json.loads(ui_artifacts(summary.flow_run_id)["label-issues"].data)
    assert table[0]["where"] == f"train.txt:{issues[0]['line']}"

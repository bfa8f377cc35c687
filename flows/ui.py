"""What the Prefect UI shows of a run, beside its logs: the data report, the suspect labels, the scores, the
card, the figures, the per-epoch table and the first mistakes, as Prefect artifacts."""

import json
from pathlib import Path

from prefect import get_run_logger
from prefect.artifacts import create_image_artifact, create_markdown_artifact, create_table_artifact

from tasks.config.sections import TaskName
from tasks.profiles import profile_of
from tasks.reports.card_procedure import epoch_table
from tasks.reports.label_ranking import issue_rows
from tasks.reports.mistakes import describe, table_rows
from tasks.reports.model_card import card_for_display
from tasks.reports.plots import data_url
from tasks.scores.metrics import MISTAKES, reported_scores
from tasks.steps.evaluate import evaluated_split
from tasks.storage.artifacts import read_artifact, read_artifact_json
from tasks.storage.catalog import (
    CARD,
    DATA_REPORT,
    DATA_REPORT_MARKDOWN,
    ERRORS,
    FIGURES,
    LABEL_ISSUES,
    LABEL_ISSUES_SUMMARY,
    METRICS,
    PLOTS,
    TRAIN_HISTORY,
)
from tasks.storage.step import StepReport


def show_data_report(reported: StepReport, metric: str) -> None:
    """The data report where the Prefect UI shows it, and a warning in the log for each problem it found; its
    notes on the metric too, when the run is judged by the default one they are about."""
    markdown = read_artifact(reported.path, DATA_REPORT_MARKDOWN).decode()
    create_markdown_artifact(key="data-report", markdown=markdown, description="What the loaded data holds")
    report = read_artifact_json(reported.path, DATA_REPORT)
    for problem in report["problems"]:
        get_run_logger().warning(f"Data: {problem}.")
    for note in report["notes"] if metric == "f1" else []:
        get_run_logger().warning(f"Metric: {note}.")


def show_label_issues(ranked: StepReport | None) -> None:
    """The most suspect labels as a table in the Prefect UI, and how many there are in the log (with
    --label-issues: ``ranked`` is None without)."""
    if ranked is None:
        return
    issues = [json.loads(line) for line in read_artifact(ranked.path, LABEL_ISSUES).decode().splitlines()[:20]]
    rows = [dict(zip(("where", "example", "given -> suggested", "score"), row)) for row in issue_rows(issues, 20)]
    create_table_artifact(
        key="label-issues", table=rows, description="The most suspect training labels (label_issues.jsonl)"
    )
    found = read_artifact_json(ranked.path, LABEL_ISSUES_SUMMARY)
    get_run_logger().info(
        f"Label issues: {found['suspect']:,} of {found['of']:,} training {found['unit']} have labels "
        f"a model trained on the other half contradicts ({ranked.path}/{LABEL_ISSUES})."
    )


def show_release(task: TaskName, evaluation_dir: str, released: StepReport) -> None:
    """The scores, the card, the figures, the per-epoch table and the first mistakes."""
    metrics, release_dir = read_artifact_json(evaluation_dir, METRICS), released.path
    names = profile_of(task).metrics
    rows = [
        {"split": split, **{name: round(value, 4) for name, value in reported_scores(scores, names).items()}}
        for split, scores in metrics.items()
    ]
    create_table_artifact(key=f"{task}-metrics", table=rows, description="Scores of the saved model")
    card = card_for_display(read_artifact(release_dir, CARD).decode())
    create_markdown_artifact(key="model-card", markdown=card, description="README.md of the released model")
    for figure in read_artifact_json(release_dir, f"{PLOTS}/{FIGURES}"):
        key = f"{task}-{Path(figure['file']).stem.replace('_', '-')}"
        image = data_url(read_artifact(release_dir, f"{PLOTS}/{figure['file']}"))
        create_image_artifact(image_url=image, key=key, description=figure["title"])
    epochs = epoch_table(read_artifact_json(release_dir, TRAIN_HISTORY))
    create_table_artifact(
        key="training-epochs", table=epochs, description="Training loss and validation per evaluation"
    )
    split = evaluated_split(metrics)
    if MISTAKES in metrics[split]:
        _show_mistakes(task, metrics[split][MISTAKES], split, release_dir)


def _show_mistakes(task: TaskName, counts: dict, split: str, release_dir: str) -> None:
    mistakes = [
        json.loads(line) for line in read_artifact(release_dir, f"{ERRORS}/{split}.jsonl").decode().splitlines()[:20]
    ]
    create_table_artifact(
        key=f"{task}-mistakes",
        table=table_rows(mistakes),
        description=f"The first of the {split} split's mistakes, most confident first: "
        f"{describe(counts, profile_of(task).data_report.EXAMPLES)} (errors/{split}.jsonl)",
    )

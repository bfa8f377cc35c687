"""label issues (``--label-issues``) -> label_issues/: the training rows whose given tags or label a model
contradicts most strongly, in ``label_issues.jsonl``, with ``label_issues.json`` (how many, of how many, in
how many seconds) and ``label_issues.md`` (the first of them, as the Prefect UI shows them). A step of its own,
after the data report: it trains, so its key covers the training code, which the report's need not.

A model never scores rows it trained on: the training split is cut into two seeded halves (of whole documents
when the data marks them), a model is trained on each half with the run's own recipe, and each scores the
other half. Each trains for twice the run's epochs, as many steps as the run's own model takes on the whole
split: that costs about two more trainings of the run, and one pass of scoring. The ranking is
`tasks.reports.label_ranking`'s. Each row names the file and line it came from, when the data is a local file.
"""

import tempfile
import time
from pathlib import Path

import datasets
from pydantic import BaseModel, ConfigDict

from tasks.config.sections import ColumnsConfig, TaskName, TokenizationConfig
from tasks.config.training import TrainingConfig
from tasks.console import run_logger
from tasks.data.sources import DatasetSource, example_lines
from tasks.pretrained import ModelSource, load_tokenizer
from tasks.profiles import Scoring, profile_of
from tasks.reports.label_ranking import classification_issues, halves, markdown, ner_issues
from tasks.storage.artifacts import building
from tasks.storage.catalog import (
    LABEL_ISSUES,
    LABEL_ISSUES_MARKDOWN,
    LABEL_ISSUES_SUMMARY,
    LOAD_SUMMARY,
    TOKENIZE_SUMMARY,
)
from tasks.storage.files import read_json, write_json, write_json_lines
from tasks.storage.step import step


class LabelIssuesRequest(BaseModel):
    """What finding label issues needs beyond the loaded data: how the run tokenizes and trains, and how its
    files name their columns (to find each row's line)."""

    model_config = ConfigDict(frozen=True)

    model: ModelSource
    tokenization: TokenizationConfig
    training: TrainingConfig  # with auto filled in from the model's recipe
    columns: ColumnsConfig
    eval_batch_size: int


def _fold_model(
    request: LabelIssuesRequest, splits: dict[str, datasets.Dataset], labels: list[str], task: TaskName, folder: Path
) -> Path:
    """A model trained on the ``splits`` train and validation, tokenized as the run tokenizes, with its recipe for
    twice its epochs: on half the rows, as many steps as the run's own model takes, so that it is as sure of each
    class (benchmarks/data_loop.py: more of the changed labels ranked first than with the run's epochs)."""
    from tasks.engines import TrainRequest, run_engine

    tokenizer, part, tokenized = load_tokenizer(request.model), profile_of(task).tokenization, folder / "tokenized"
    datasets.DatasetDict(
        {
            split: part.tokenize(rows, tokenizer, labels, request.tokenization, split).rows
            for split, rows in splits.items()
        }
    ).save_to_disk(str(tokenized))
    settings = {
        "labels": labels,
        "max_length": request.tokenization.max_length,
        "context": request.tokenization.context,
    }
    write_json(tokenized / TOKENIZE_SUMMARY, settings)
    run_engine(
        TrainRequest(
            tokenized_dir=str(tokenized),
            model=request.model,
            task=task,
            training=request.training.model_copy(update={"epochs": 2 * request.training.epochs}),
            checkpoints=str(folder / "checkpoints"),
            output=str(folder / "model"),
        )
    )
    return folder / "model"


def _held_out_scores(model_dir: Path, rows: datasets.Dataset, request: LabelIssuesRequest, task: TaskName) -> list:
    """Per row, every label's probability (per word for NER) from the model in ``model_dir``."""
    import torch

    from tasks.data.context import document_ids
    from tasks.hardware import compute_device

    model = profile_of(task).model_class().from_pretrained(model_dir).to(compute_device()).eval()
    tokenizer, scoring = (
        load_tokenizer(str(model_dir)),
        Scoring(request.tokenization, request.eval_batch_size, progress="label issues"),
    )
    with torch.inference_mode():
        if task == "ner":
            from tasks.profiles.ner.evaluation import predict_words

            return predict_words(
                model, tokenizer, list(rows["tokens"]), scoring, document_ids(rows), distributions=True
            ).distributions
        from tasks.profiles import PAIR_COLUMN, is_pair
        from tasks.profiles.sequence_classification.evaluation import predict_texts

        pairs = list(rows[PAIR_COLUMN]) if is_pair(rows.column_names) else None
        return predict_texts(model, tokenizer, list(rows["text"]), pairs, scoring)


def find_label_issues(request: LabelIssuesRequest, dataset_dir: str, task: TaskName) -> tuple[list[dict], float]:
    """The training split's label issues, each with its file and line when known, and the seconds they took."""
    started, logger = time.perf_counter(), run_logger()
    summary = read_json(Path(dataset_dir) / LOAD_SUMMARY)
    loaded = datasets.load_from_disk(dataset_dir)
    train = loaded["train"]
    probabilities: list = [None] * len(train)
    with tempfile.TemporaryDirectory(prefix="label-issues-") as scratch:
        first, second = halves(train, request.training.seed)
        for number, (trained_on, scored) in enumerate(((first, second), (second, first)), 1):
            logger.info(
                f"Label issues: training a model on half {number} of 2 ({len(trained_on):,} rows) to score the other."
            )
            splits = {"train": train.select(trained_on), "validation": loaded["validation"]}
            model_dir = _fold_model(request, splits, summary["labels"], task, Path(scratch) / f"half-{number}")
            for row, found in zip(scored, _held_out_scores(model_dir, train.select(scored), request, task)):
                probabilities[row] = found
    column = "ner_tags" if task == "ner" else "label"
    rank = ner_issues if task == "ner" else classification_issues
    issues = rank(list(train[column]), probabilities, summary["labels"])
    located = _located(issues, train, DatasetSource.model_validate(summary["source"]), request.columns, task)
    return located, round(time.perf_counter() - started, 1)


def _located(
    issues: list[dict], train: datasets.Dataset, source: DatasetSource, columns: ColumnsConfig, task: TaskName
) -> list[dict]:
    """The issues with the words (or text) of their row, and the file and line it starts on when known."""
    file, lines = example_lines(source, columns, task)
    located = []
    for issue in issues:
        row = train[issue["row"]]
        example = (
            {"words": row["tokens"]}
            if task == "ner"
            else {"text": row["text"], **({"text_pair": row["text_pair"]} if row.get("text_pair") else {})}
        )
        key = tuple(example["words"]) if task == "ner" else (example["text"], example.get("text_pair"))
        where = {"file": file, "line": lines.get(key)} if file else {}
        located.append({**where, **example, **{name: value for name, value in issue.items() if name != "row"}})
    return located


@step()
def label_issues(dataset_dir: str, request: LabelIssuesRequest, task: TaskName, out_dir: str) -> str:
    """Rank the training split's suspect labels (`find_label_issues`); write them with their summary."""
    issues, seconds = find_label_issues(request, dataset_dir, task)
    unit = profile_of(task).data_report.EXAMPLES
    summary = {
        "suspect": len(issues),
        "of": read_json(Path(dataset_dir) / LOAD_SUMMARY)["num_rows"]["train"],
        "unit": unit,
        "seconds": seconds,
    }
    with building(Path(out_dir)) as partial:
        write_json_lines(partial / LABEL_ISSUES, issues)
        write_json(partial / LABEL_ISSUES_SUMMARY, summary)
        (partial / LABEL_ISSUES_MARKDOWN).write_text(markdown(summary, issues))
    return out_dir

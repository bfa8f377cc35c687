"""The card's training procedure: the settings it trained with, each epoch's scores, how a sweep chose it (pure)."""

from tasks.data.context import describe as describe_context
from tasks.reports.card_facts import CardFacts, Selection
from tasks.reports.markdown import table
from tasks.scores.run_metric import describe_early_stopping, metric_title
from tasks.storage.catalog import RELEASE_SWEEP


def epoch_rows(history: list[dict]) -> list[list]:
    """One row per evaluation: epoch, step, mean training loss since the previous evaluation, validation loss.

    The engines log the mean loss of the steps since their previous log (every 25 steps), so the
    epoch's mean weights each logged value by the steps it covers; "—" when none was logged."""
    rows, losses, last_step = [], [], 0
    for entry in history:
        if "loss" in entry:
            losses.append((entry["loss"], entry["step"] - last_step))
            last_step = entry["step"]
        elif "eval_f1" in entry:
            steps = sum(count for _, count in losses)
            mean = sum(loss * count for loss, count in losses) / steps if steps else "—"
            rows.append([f"{entry['epoch']:g}", entry["step"], mean, entry.get("eval_loss", "—")])
            losses = []
    return rows


def epoch_table(history: list[dict]) -> list[dict]:
    """`epoch_rows` with each evaluation's validation F1 (as measured during training), as table rows."""
    evaluations = [entry for entry in history if "eval_f1" in entry]
    return [
        {
            "epoch": epoch,
            "step": step,
            "training loss": round(loss, 4) if isinstance(loss, float) else None,
            "validation loss": round(validation, 4) if isinstance(validation, float) else None,
            "validation f1": round(evaluation["eval_f1"], 4),
        }
        for (epoch, step, loss, validation), evaluation in zip(epoch_rows(history), evaluations)
    ]


def kept_epoch(facts: CardFacts) -> str:
    """The saved model's epoch, as its evaluation is named in the history (both engines record it)."""
    return f"{facts.best_epoch:g}"


_PRECISIONS = {"no": "full precision (fp32)", "bf16": "bf16", "fp16": "fp16"}


def precision_line(facts: CardFacts) -> str:
    """Where and in what precision the model was trained and scored (`tasks.hardware`)."""
    scored, trained = facts.evaluated_on, facts.hyperparameters.get("mixed_precision")
    return (
        f"Trained in {_PRECISIONS.get(trained, trained)}; scored on {scored['device'].upper()} in "
        f"{_PRECISIONS.get(scored['mixed_precision'], scored['mixed_precision'])}."
    )


def _kept_line(facts: CardFacts, kept: str) -> str:
    if sum("eval_f1" in entry for entry in facts.history) > 1:
        stopping = f" {describe_early_stopping(facts.early_stopping)}" if facts.early_stopping else ""
        return (
            f"The model is the epoch-{kept} checkpoint, the one with the best validation {metric_title(facts.metric)} "
            f"during training.{stopping}"
        )
    return (
        f"The model is the one training ended with (epoch {kept}), scored on validation once, by the "
        "evaluation step (which computes no loss)."
    )


def procedure_section(facts: CardFacts) -> list[str]:
    # The dataset is named under Training data (its option may be a path on the training machine);
    # where the run was tracked says nothing of the model.
    unused = facts.card.OTHER_TASKS_SETTINGS | {"dataset", "report_to"}
    hyperparameters = [
        [name, _setting_cell(facts, name, value)] for name, value in facts.hyperparameters.items() if name not in unused
    ]
    kept = kept_epoch(facts)
    rows = [[f"{row[0]} (kept)" if row[0] == kept else row[0], *row[1:]] for row in epoch_rows(facts.history)]
    pickle = (
        [
            "**The base model's weights were a pickle** (`pytorch_model.bin`, loaded with "
            "`--allow-pickle-weights`): loading a pickle can run any code it holds.",
            "",
        ]
        if facts.base_model_pickle
        else []
    )
    return [
        "## Training procedure",
        "",
        *pickle,
        *table(["Hyper-parameter", "Value"], hyperparameters),
        "",
        *table(["Epoch", "Step", "Training loss (epoch mean)", "Validation loss"], rows),
        "",
        _kept_line(facts, kept) + " The training loss is the mean of the losses logged during the epoch, each "
        "weighted by the steps it covers.",
        "",
        *facts.figure_lines("training"),
        *_selection_lines(facts.selection),
    ]


def _setting_cell(facts: CardFacts, name: str, value):
    if name == "class_weights":
        return _class_weights_text(value, facts.class_weights)
    if name == "context":
        return describe_context(value)
    # As given, not at a score's four decimals: a learning rate of 5e-05 is not 0.0001.
    return f"{value:g}" if isinstance(value, float) else value


def _class_weights_text(setting: str | dict, weights: dict[str, float] | None) -> str:
    """``none``, or the weight training gave each label, after ``balanced:`` when it computed them."""
    if weights is None:
        return "none"
    listed = ", ".join(f"{label} {weight:.3g}" for label, weight in weights.items())
    return f"balanced: {listed}" if setting == "balanced" else listed


def _selection_lines(selection: Selection | None) -> list[str]:
    if selection is None:
        return []
    report, *plots = selection.report_files
    failed = selection.trials - selection.completed
    return [
        f"Chosen by a hyper-parameter sweep ({selection.strategy}): of its {selection.trials} trials"
        + (f" ({failed} failed)" if failed else "")
        + f", the one with the best validation F1 (the test split plays no part in the choice). The sweep's report, "
        f"every trial with its options and scores: [{RELEASE_SWEEP}/{report}]({RELEASE_SWEEP}/{report}).",
        "",
        *(line for plot in plots for line in (f"![The sweep's trials]({RELEASE_SWEEP}/{plot})", "")),
    ]

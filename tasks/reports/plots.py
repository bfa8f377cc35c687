"""Figures for the model card and the Prefect UI: pure functions that write one PNG each.

They use matplotlib's object API, never pyplot, so they need no display and are safe in worker threads;
matplotlib is imported inside the functions so that importing this module stays cheap. Figures are 8 inches
wide at 120 dpi (960 px): scaled to the Hub's ~800 px card width, matplotlib's 10 pt text stays legible.
"""

import base64
from pathlib import Path
from typing import Any, Literal

DPI = 120
WIDTH = 8.0
# Okabe-Ito colours, distinguishable with the common colour-vision deficiencies.
BLUE, ORANGE, GREEN, GREY = "#0072B2", "#D55E00", "#009E73", "#555555"


def data_url(png: bytes) -> str:
    """A PNG as a ``data:`` URL: what the Prefect UI's image artifacts show without a web server for the file."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _figure(height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(WIDTH, height), dpi=DPI, layout="constrained")


def _save(figure, path: Path) -> Path:
    path = Path(path)
    figure.savefig(path, format="png")
    return path


def _f1_limits(values: list[float]) -> tuple[float, float]:
    # A tight range shows the differences between evaluations that decide which weights are kept.
    low, high = min(values), max(values)
    pad = max(0.05, 0.15 * (high - low))
    return max(0.0, low - pad), min(1.0, high + pad)


def training_curves(history: list[dict], kept_step: int | None, path: Path) -> Path:
    """Training loss, validation loss and validation F1 against step (epoch on the top axis),
    with the evaluation whose weights were kept marked."""
    train = [entry for entry in history if "loss" in entry]
    evals = [entry for entry in history if "eval_loss" in entry]
    scored = [entry for entry in history if "eval_f1" in entry]  # the evaluate step's has no loss
    figure = _figure(4.5)
    loss_axis = figure.add_subplot()
    f1_axis = loss_axis.twinx()
    if train:
        loss_axis.plot([e["step"] for e in train], [e["loss"] for e in train], color=BLUE, label="training loss")
    # Markers may sit on an axis limit (F1 0 early in a run); unclipped, they stay whole.
    loss_axis.plot(
        [e["step"] for e in evals],
        [e["eval_loss"] for e in evals],
        "s-",
        color=ORANGE,
        label="validation loss",
        clip_on=False,
    )
    if scored:
        f1_axis.plot(
            [e["step"] for e in scored],
            [e["eval_f1"] for e in scored],
            "o-",
            color=GREEN,
            label="validation F1",
            clip_on=False,
        )
        f1_axis.set_ylim(*_f1_limits([e["eval_f1"] for e in scored]))
    if kept_step is not None:
        _mark_kept(f1_axis, kept_step, next((e for e in scored if e["step"] == kept_step), None))
    losses = [e["loss"] for e in train] + [e["eval_loss"] for e in evals]
    loss_axis.set(xlabel="step", ylabel="loss", xlim=(0, None), ylim=(0, 1.05 * max(losses, default=1)))
    loss_axis.xaxis.get_major_locator().set_params(integer=True)
    f1_axis.set_ylabel("validation F1")
    _epoch_axis(loss_axis, history)
    # Below the axes, the legend cannot cover the early loss or the late F1.
    handles = [h for axis in (loss_axis, f1_axis) for h in axis.get_legend_handles_labels()[0]]
    figure.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False)
    return _save(figure, path)


def _mark_kept(axis, step: int, evaluation: dict | None) -> None:
    # The label lives in the legend: beside the line it would collide with the curves it marks.
    label = f"kept: step {step}"
    if evaluation:
        label = f"kept: epoch {round(evaluation['epoch'], 2)}, F1 {evaluation['eval_f1']:.3f}"
    axis.axvline(step, color=GREY, linestyle="--", linewidth=1.2, label=label)


def _epoch_axis(axis, history: list[dict]) -> None:
    # Steps per epoch is constant within a run, so one ratio converts both ways.
    last = max((e for e in history if e.get("epoch") and "step" in e), key=lambda e: e["step"], default=None)
    if last is None:
        return
    per_epoch = last["step"] / last["epoch"]
    top = axis.secondary_xaxis("top", functions=(lambda step: step / per_epoch, lambda epoch: epoch * per_epoch))
    top.set_xlabel("epoch")


def f1_bars(scores: dict[str, dict], title: str, path: Path) -> Path:
    """Horizontal F1 bars per entity type or class, each labelled with its F1 and support."""
    # By name, not by score or support: successive cards then list the types in the same order.
    names = sorted(scores)
    figure = _figure(1.3 + 0.5 * len(names))
    axis = figure.add_subplot()
    f1s = [scores[name]["f1"] for name in names]
    bars = axis.barh(names, f1s, color=BLUE, height=0.6)
    for bar, name, f1 in zip(bars, names, f1s):
        text = f"{f1:.3f}  (n={scores[name]['support']:,})"
        # Inside a long bar in white; beyond a short one in black, where there is room.
        inside = f1 > 0.45
        axis.text(
            f1 - 0.01 if inside else f1 + 0.01,
            bar.get_y() + bar.get_height() / 2,
            text,
            va="center",
            ha="right" if inside else "left",
            color="white" if inside else "black",
        )
    axis.invert_yaxis()
    axis.set(xlim=(0, 1), xlabel="F1", title=title)
    axis.grid(axis="x", alpha=0.3)
    axis.set_axisbelow(True)
    return _save(figure, path)


def confusion_heatmap(labels: list[str], matrix: list[list[int]], title: str, path: Path) -> Path:
    """Counts per gold (row) and predicted (column) label, coloured by each row's share, so that
    the errors of small classes show as clearly as those of large ones."""
    import numpy as np

    counts = np.asarray(matrix, dtype=int)
    size = len(labels)
    if counts.shape != (size, size):
        raise ValueError(f"a confusion matrix over {size} labels must be {size}x{size}, not {counts.shape}")
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    figure = _figure(2.0 + 0.5 * size)
    axis = figure.add_subplot()
    # Cells stretch to the figure's width: square ones would leave a 2x2 matrix in a narrow strip.
    image = axis.imshow(shares, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    for (row, column), count in np.ndenumerate(counts):
        share = shares[row, column]
        # The share is spelled out too while cells are large enough to hold it.
        text = f"{count:,}\n{'<1%' if 0 < share < 0.005 else f'{share:.0%}'}" if size <= 6 else f"{count:,}"
        axis.text(
            column,
            row,
            text,
            ha="center",
            va="center",
            fontsize=11 if size <= 6 else 9,
            color="white" if share > 0.55 else "black",
        )
    crowded = size * max(len(label) for label in labels) > 60
    axis.set_xticks(range(size), labels, rotation=30 if crowded else 0, ha="right" if crowded else "center")
    axis.set_yticks(range(size), labels)
    axis.set(xlabel="predicted", ylabel="gold", title=title)
    figure.colorbar(image, ax=axis, label="share of the gold row", fraction=0.05, pad=0.02)
    return _save(figure, path)


def sweep_scatter(
    points: list[tuple[Any, float]],
    best: tuple[Any, float] | None,
    name: str,
    scale: Literal["listed", "linear", "log"],
    path: Path,
    metric: str = "F1",
) -> Path:
    """The validation ``metric`` (its title) of each completed trial against one option's value, the winner marked. Listed values
    sit at evenly spaced positions, the trials that share one side by side, so none hides another."""
    figure = _figure(4.2)
    axis = figure.add_subplot()
    if scale == "listed":
        labels = list(dict.fromkeys(_value_label(value) for value, _ in sorted(points, key=lambda p: _sortable(p[0]))))
        seen: dict[str, int] = {}

        def position(value) -> float:
            label = _value_label(value)
            shared = sum(_value_label(v) == label for v, _ in points)
            seen[label] = seen.get(label, 0) + 1
            return labels.index(label) + (0.0 if shared == 1 else 0.3 * ((seen[label] - 1) / (shared - 1) - 0.5))

        xs = [position(value) for value, _ in points]
        axis.set_xticks(range(len(labels)), labels)
        axis.set_xlim(-0.5, len(labels) - 0.5)
    else:
        xs = [value for value, _ in points]
        axis.set_xscale(scale)
    axis.scatter(xs, [f1 for _, f1 in points], color=BLUE, s=40, label="trial")
    if best is not None:
        chosen = next(x for x, point in zip(xs, points) if point == best)
        axis.scatter(
            [chosen],
            [best[1]],
            color=ORANGE,
            s=160,
            marker="*",
            zorder=3,
            label=f"chosen: {name} = {_value_label(best[0])}, {metric} {best[1]:.3f}",
        )
    axis.set(
        xlabel=name,
        ylabel=f"validation {metric}",
        title=f"Validation {metric} of {len(points)} completed trials against {name}",
    )
    axis.grid(alpha=0.3)
    figure.legend(loc="outside lower center", ncols=2, frameon=False)
    return _save(figure, path)


def _value_label(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _sortable(value: Any) -> tuple:
    return (0, value, "") if isinstance(value, (int, float)) and not isinstance(value, bool) else (1, 0, str(value))

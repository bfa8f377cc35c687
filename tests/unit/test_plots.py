import subprocess
import sys

import pytest

from tasks.reports.plots import BLUE, GREEN, ORANGE, confusion_heatmap, f1_bars, sweep_scatter, training_curves
from tasks.scores.metrics import NO_ENTITY, entity_type_confusion


def read_png(path):
    """The image as RGB floats, after the checks every figure must pass: card-sized and not blank."""
    from matplotlib.image import imread

    pixels = imread(path)[..., :3]
    assert 700 <= pixels.shape[1] <= 1300
    assert pixels.std() > 0.05
    return pixels


def pixels_of(pixels, colour: str) -> int:
    from matplotlib.colors import to_rgb

    return int((abs(pixels - to_rgb(colour)).max(axis=-1) < 0.05).sum())


def realistic_history() -> list[dict]:
    """Two epochs of 100 steps: a training log every 10 steps, two evaluations per epoch, the summary."""
    history = []
    for step in range(10, 201, 10):
        history.append(
            {"loss": 2.0 / (1 + step / 20), "grad_norm": 1.5, "learning_rate": 1e-4, "epoch": step / 100, "step": step}
        )
        if step % 50 == 0:
            f1 = {50: 0.61, 100: 0.78, 150: 0.84, 200: 0.83}[step]
            history.append(
                {
                    "eval_loss": 0.5 - f1 / 3,
                    "eval_f1": f1,
                    "eval_precision": f1,
                    "eval_recall": f1,
                    "epoch": step / 100,
                    "step": step,
                }
            )
    return history + [{"train_runtime": 12.3, "train_loss": 0.4, "epoch": 2.0, "step": 200}]


def test_entity_type_confusion_counts_words_by_type():
    gold = [["B-PER", "I-PER", "O", "B-LOC", "O", "B-ORG", "I-ORG"], ["I-LOC", "I-LOC", "O"]]
    predicted = [["B-PER", "B-PER", "B-LOC", "O", "O", "B-MISC", "I-ORG"], ["I-LOC", "I-ORG", "I-ORG"]]
    confusion = entity_type_confusion(gold, predicted)
    assert confusion["labels"] == ["LOC", "MISC", "ORG", "PER", NO_ENTITY]
    assert confusion["rows_gold_columns_predicted"] == [
        [1, 0, 1, 0, 1],  # LOC: one right (IOB1), one taken for ORG, one missed
        [0, 0, 0, 0, 0],  # MISC is only ever predicted
        [0, 1, 1, 0, 0],  # ORG: one word taken for MISC
        [0, 0, 0, 2, 0],  # PER: B-PER for I-PER is still the right type
        [1, 0, 1, 0, 1],  # spurious LOC and ORG words
    ]


def test_entity_type_confusion_names_the_sentence_of_a_length_mismatch():
    with pytest.raises(ValueError, match="sentence 1: 2 gold tags but 1 predicted"):
        entity_type_confusion([["O"], ["B-PER", "O"]], [["O"], ["B-PER"]])
    with pytest.raises(ValueError, match="2 gold sentences but 1 predicted"):
        entity_type_confusion([["O"], ["O"]], [["O"]])


def test_importing_plots_leaves_matplotlib_unloaded():
    code = "import sys, tasks.reports.plots; assert 'matplotlib' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_training_curves_draw_every_series(tmp_path):
    path = training_curves(realistic_history(), kept_step=150, path=tmp_path / "curves.png")
    pixels = read_png(path)
    assert all(pixels_of(pixels, colour) > 50 for colour in (BLUE, ORANGE, GREEN))


@pytest.mark.parametrize("kept_step", [6, None, 999])
def test_training_curves_without_training_logs(tmp_path, kept_step):
    """A run too short to log a training loss still plots its evaluations; the kept step may be unknown."""
    history = [
        {"eval_loss": 1.9, "eval_f1": 0.0, "epoch": 0.5, "step": 3},
        {"eval_loss": 1.7, "eval_f1": 0.1, "epoch": 1.0, "step": 6},
    ]
    pixels = read_png(training_curves(history, kept_step, tmp_path / "curves.png"))
    assert pixels_of(pixels, BLUE) == 0
    assert pixels_of(pixels, ORANGE) > 50 and pixels_of(pixels, GREEN) > 50


def test_training_curves_with_a_single_evaluation(tmp_path):
    history = [e for e in realistic_history() if "eval_loss" not in e or e["step"] == 200]
    read_png(training_curves(history, 200, tmp_path / "curves.png"))


def test_f1_bars(tmp_path):
    scores = {
        name: {"precision": f1, "recall": f1, "f1": f1, "support": support}
        for name, f1, support in (("PER", 0.93, 1617), ("LOC", 0.82, 1668), ("MISC", 0.0, 3))
    }
    pixels = read_png(f1_bars(scores, "Test F1 per entity type", tmp_path / "bars.png"))
    assert pixels_of(pixels, BLUE) > 1000


def dark_blue_share(pixels) -> float:
    """The share of the image in the darkest blues of the colour map: cells with most of their row."""
    return float(((pixels[..., 0] < 0.2) & (pixels[..., 2] > 0.4)).mean())


def test_confusion_heatmap_colours_a_small_class_by_its_share(tmp_path):
    """Coloured by count, the five right answers of the small class would be as pale as an error."""
    path = confusion_heatmap(["negative", "positive"], [[1000, 0], [0, 5]], "Test", tmp_path / "confusion.png")
    assert dark_blue_share(read_png(path)) > 0.25  # both diagonal cells: a quarter of the image each, less margins


def test_confusion_heatmap_of_ten_classes(tmp_path):
    labels = [f"class number {index}" for index in range(10)]
    matrix = [[1000 * (row == column) + row + column for column in range(10)] for row in range(10)]
    path = confusion_heatmap(labels, matrix, "Test", tmp_path / "confusion.png")
    assert dark_blue_share(read_png(path)) > 0.05  # ten diagonal cells of a hundred


def test_confusion_heatmap_rejects_a_matrix_of_the_wrong_shape(tmp_path):
    with pytest.raises(ValueError, match="must be 2x2"):
        confusion_heatmap(["a", "b"], [[1, 2, 3], [4, 5, 6]], "Test", tmp_path / "confusion.png")


@pytest.mark.parametrize("scale", ["listed", "log"])
def test_sweep_scatter_marks_the_chosen_trial(tmp_path, scale):
    points = [(1e-4, 0.70), (1e-4, 0.72), (3e-4, 0.80), (1e-3, 0.60)]
    pixels = read_png(sweep_scatter(points, (3e-4, 0.80), "learning_rate", scale, tmp_path / "sweep.png"))
    assert pixels_of(pixels, BLUE) > 0 and pixels_of(pixels, ORANGE) > 0
    assert pixels_of(read_png(sweep_scatter(points, None, "learning_rate", scale, tmp_path / "none.png")), ORANGE) == 0

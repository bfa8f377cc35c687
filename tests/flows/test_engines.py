"""Both training engines: same outputs, resume after an interruption, two processes, precision and accumulation."""

import json
import math
from pathlib import Path

import pytest

from conftest import progress_shown
from flows.finetune import finetune
from tasks.config.finetune import FinetuneConfig
from tasks.engines import TrainRequest, run_engine
from tasks.errors import PipelineError
from tasks.hardware import cpu_bf16_warning, cpu_flags, cpu_precision, resolve_precision, slow_precision_warning
from tasks.storage.catalog import TOKENIZE_SUMMARY, TRAIN_HISTORY, TRAIN_SUMMARY

pytestmark = pytest.mark.slow


def built(folder: Path) -> list[Path]:
    """The artifacts in a step's folder; hidden entries are the locks and partials beside them."""
    return [path for path in folder.iterdir() if not path.name.startswith(".")] if folder.exists() else []


def tiny_config(model: Path, data: Path, artifacts: Path, **overrides) -> FinetuneConfig:
    values = dict(
        model=str(model),
        dataset=str(data),
        artifacts_dir=artifacts,
        batch_size=8,
        eval_batch_size=16,
        learning_rate=1e-3,
        epochs=3,
    )
    return FinetuneConfig(**{**values, **overrides})


def step_path(summary, name: str) -> Path:
    return Path(next(step.path for step in summary.steps if step.name == name))


def records(summary) -> tuple[list[dict], dict]:
    model_dir = step_path(summary, "train")
    return json.loads((model_dir / TRAIN_HISTORY).read_text()), json.loads((model_dir / TRAIN_SUMMARY).read_text())


def evaluations(history: list[dict]) -> list[tuple]:
    """Epoch, step, validation loss and F1 of each evaluation (not its timings)."""
    return [
        (entry["epoch"], entry["step"], entry["eval_loss"], entry["eval_f1"]) for entry in history if "eval_f1" in entry
    ]


class PowerCut(Exception):
    """Stands for the machine going down right after a checkpoint was written."""


def count_calls(monkeypatch, owner, method: str, fail_at: int | None = None) -> list[int]:
    """Count calls of a checkpoint-writing method; with ``fail_at``, that call raises
    `PowerCut` once the library has written its files."""
    original, calls = getattr(owner, method), []

    def save(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        calls.append(1)
        if len(calls) == fail_at:
            raise PowerCut()
        return result

    monkeypatch.setattr(owner, method, save)
    return calls


# The cut comes right after the second epoch's checkpoint call: the Trainer's checkpoint is complete
# by then, so it resumes after epoch 2; the Accelerate engine has not yet marked it complete, so it
# falls back to epoch 1, and trains epochs 2 and 3 again.
@pytest.mark.parametrize(("engine", "checkpoints_after_resume"), [("accelerate", 2), ("trainer", 1)])
def test_resume_after_interruption_matches_an_uninterrupted_run(
    engine, checkpoints_after_resume, prefect_server, tiny_model, conll_sample, tmp_path, monkeypatch
):
    from accelerate import Accelerator
    from transformers import AutoModelForTokenClassification, Trainer

    owner, method = (Accelerator, "save_state") if engine == "accelerate" else (Trainer, "_save_checkpoint")
    uninterrupted = finetune(tiny_config(tiny_model, conll_sample, tmp_path / "a", engine=engine))
    config = tiny_config(tiny_model, conll_sample, tmp_path / "b", engine=engine)
    with monkeypatch.context() as patch:
        count_calls(patch, owner, method, fail_at=2)
        with pytest.raises(PowerCut):
            finetune(config)
    assert not built(tmp_path / "b" / "model")
    assert any((tmp_path / "b" / "checkpoints").iterdir())
    saved = count_calls(monkeypatch, owner, method)
    resumed = finetune(config.model_copy(update={"resume": True}))
    assert len(saved) == checkpoints_after_resume
    assert resumed.metrics == uninterrupted.metrics
    assert evaluations(records(resumed)[0]) == evaluations(records(uninterrupted)[0])
    AutoModelForTokenClassification.from_pretrained(step_path(resumed, "train"))
    assert not (tmp_path / "b" / "checkpoints").exists()


def test_resume_skips_a_checkpoint_the_trainer_did_not_finish_writing(tmp_path):
    from tasks.engines.trainer import last_checkpoint

    for step, finished in ((8, True), (16, True), (24, False)):  # killed while writing checkpoint-24
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        (folder / "model.safetensors").write_bytes(b"weights")
        if finished:
            (folder / "trainer_state.json").write_text("{}")
    assert last_checkpoint(str(tmp_path)) == str(tmp_path / "checkpoint-16")
    assert last_checkpoint(str(tmp_path / "nowhere")) is None


@pytest.fixture(scope="module")
def accelerate_run(prefect_server, tiny_model, conll_sample, tmp_path_factory):
    config = tiny_config(tiny_model, conll_sample, tmp_path_factory.mktemp("artifacts"), engine="accelerate", epochs=2)
    return config, finetune(config)


def test_accelerate_engine_writes_what_the_trainer_engine_writes(accelerate_run):
    config, summary = accelerate_run
    model_dir = step_path(summary, "train")
    assert {p.name for p in model_dir.iterdir()} >= {
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        TRAIN_HISTORY,
        TRAIN_SUMMARY,
    }
    history, facts = records(summary)
    assert facts["engine"] == "accelerate" and facts["processes"] == 1 and facts["mixed_precision"] == "no"
    assert [(epoch, step) for epoch, step, *_ in evaluations(history)] == [(1.0, 6), (2.0, 12)]
    assert all(entry["eval_examples"] == 16 for entry in history if "eval_f1" in entry)
    assert facts["best_epoch"] in (1, 2)
    assert set(summary.metrics) == {"validation", "test"}
    assert not (config.artifacts_dir / "checkpoints").exists()
    again = finetune(config)
    assert [step.name for step in again.steps if not step.cached] == []
    assert again.metrics == summary.metrics


def engine_request(summary, tmp_path: Path, engine: str, **training) -> TrainRequest:
    config_dir = step_path(summary, "train")
    facts = json.loads((config_dir / TRAIN_SUMMARY).read_text())
    hyperparameters = {**facts["hyperparameters"], "engine": engine, **training}
    output = tmp_path / "model"
    output.mkdir()
    return TrainRequest.model_validate(
        {
            "tokenized_dir": str(step_path(summary, "tokenize")),
            "model": {"kind": "local", "location": facts["base_model"]},
            "training": hyperparameters,
            "task": "ner",
            "checkpoints": str(tmp_path / "checkpoints"),
            "output": str(output),
        }
    )


@pytest.mark.parametrize("engine", ["accelerate", "trainer"])
def test_gradient_accumulation_halves_the_optimizer_steps(engine, accelerate_run, tmp_path):
    request = engine_request(accelerate_run[1], tmp_path, engine, gradient_accumulation_steps=2)
    run_engine(request)
    history = json.loads((Path(request.output) / TRAIN_HISTORY).read_text())
    assert [(epoch, step) for epoch, step, *_ in evaluations(history)] == [(1.0, 3), (2.0, 6)]


@pytest.mark.parametrize("engine", ["accelerate", "trainer"])
def test_evaluations_within_an_epoch_are_timed_and_the_best_is_kept(engine, accelerate_run, tmp_path):
    from safetensors.torch import load_file

    request = engine_request(accelerate_run[1], tmp_path, engine, epochs=1, evals_per_epoch=2, learning_rate=3e-3)
    run_engine(request)
    history = json.loads((Path(request.output) / TRAIN_HISTORY).read_text())
    facts = json.loads((Path(request.output) / TRAIN_SUMMARY).read_text())
    scored = [entry for entry in history if "eval_f1" in entry]
    assert [(entry["epoch"], entry["step"]) for entry in scored] == [(0.5, 3), (1.0, 6)]
    assert 0 < scored[0]["elapsed_seconds"] < scored[1]["elapsed_seconds"]
    best = max(scored, key=lambda entry: entry["eval_f1"])
    assert (facts["best_step"], facts["best_epoch"]) == (best["step"], best["epoch"])
    assert facts["best_metric"]["value"] == best["eval_f1"]
    # The saved weights are those of the best evaluation's checkpoint.
    saved = load_file(Path(request.output) / "model.safetensors")
    kept = Path(request.checkpoints) / ("best" if engine == "accelerate" else f"checkpoint-{best['step']}")
    assert all((saved[name] == weights).all() for name, weights in load_file(kept / "model.safetensors").items())


@pytest.mark.parametrize("engine", ["accelerate", "trainer"])
def test_early_stopping_ends_training_at_the_patience_and_keeps_the_best_pass_by_the_metric(
    engine, accelerate_run, tmp_path
):
    # A learning rate too small to change a prediction: the first pass is the best, and each later one is no
    # improvement, so patience 2 stops training at the third of the eight passes planned.
    request = engine_request(
        accelerate_run[1],
        tmp_path,
        engine,
        epochs=4,
        evals_per_epoch=2,
        learning_rate=1e-12,
        metric="strict_f1",
        early_stopping_patience=2,
    )
    run_engine(request)
    history = json.loads((Path(request.output) / TRAIN_HISTORY).read_text())
    facts = json.loads((Path(request.output) / TRAIN_SUMMARY).read_text())
    passes = [entry for entry in history if "eval_strict_f1" in entry]
    assert [(entry["epoch"], entry["step"]) for entry in passes] == [(0.5, 3), (1.0, 6), (1.5, 9)]
    assert all("eval_f1" in entry for entry in passes)  # the headline scores beside the run's metric
    assert facts["best_metric"] == {"name": "validation strict_f1", "value": passes[0]["eval_strict_f1"]}
    assert (facts["best_epoch"], facts["best_step"]) == (0.5, 3)
    assert facts["early_stopping"] == {
        "patience": 2,
        "threshold": 0.0,
        "evaluations": 3,
        "stopped_at": {"evaluation": 3, "epoch": 1.5},
        "kept": {"evaluation": 1, "epoch": 0.5},
    }
    assert max(entry["step"] for entry in history) == 9  # no training step after the pass that stopped it


@pytest.mark.parametrize("engine", ["accelerate", "trainer"])
def test_balanced_class_weights_come_from_the_training_tokens_and_are_recorded(engine, accelerate_run, tmp_path):
    from collections import Counter

    import datasets

    request = engine_request(accelerate_run[1], tmp_path, engine, class_weights="balanced", epochs=1)
    run_engine(request)
    facts = json.loads((Path(request.output) / TRAIN_SUMMARY).read_text())
    labels = json.loads((Path(request.tokenized_dir) / TOKENIZE_SUMMARY).read_text())["labels"]
    tokens = Counter(
        label
        for row in datasets.load_from_disk(request.tokenized_dir)["train"]["labels"]
        for label in row
        if label != -100
    )
    n, k = sum(tokens.values()), len(tokens)
    expected = {label: n / (k * tokens[i]) if tokens[i] else 1.0 for i, label in enumerate(labels)}
    assert facts["hyperparameters"]["class_weights"] == "balanced"
    assert facts["class_weights"] == pytest.approx(expected)
    assert list(facts["class_weights"]) == labels
    assert facts["class_weights"]["O"] < 1 < facts["class_weights"]["B-PER"]  # O is the common label
    history = json.loads((Path(request.output) / TRAIN_HISTORY).read_text())
    assert all(math.isfinite(entry["eval_loss"]) for entry in history if "eval_loss" in entry)


@pytest.mark.parametrize("engine", ["accelerate", "trainer"])
def test_bf16_trains_on_cpu(engine, accelerate_run, tmp_path):
    from transformers import AutoModelForTokenClassification

    request = engine_request(accelerate_run[1], tmp_path, engine, mixed_precision="bf16", epochs=1)
    run_engine(request)
    assert json.loads((Path(request.output) / TRAIN_SUMMARY).read_text())["mixed_precision"] == "bf16"
    model = AutoModelForTokenClassification.from_pretrained(request.output)
    assert next(model.parameters()).dtype.is_floating_point


def test_precision_choice_on_this_machine():
    import torch

    if torch.cuda.is_available():
        pytest.skip("checks the CPU choices")
    # bf16 where this CPU has AMX for it, full precision elsewhere (tests/unit/test_hardware.py covers both).
    flags = cpu_flags()
    assert resolve_precision("auto") == cpu_precision(flags)
    assert resolve_precision("bf16") == "bf16"
    with pytest.raises(PipelineError, match="fp16 needs a CUDA GPU"):
        resolve_precision("fp16")
    assert slow_precision_warning("bf16") == cpu_bf16_warning(flags)
    assert slow_precision_warning("auto") is None and slow_precision_warning("no") is None


def test_two_processes_count_each_validation_example_once(prefect_server, tiny_model, conll_sample, tmp_path):
    from transformers import AutoModelForTokenClassification

    # 11 examples in batches of 5 over two processes: the last batch is padded with repeats.
    config = tiny_config(
        tiny_model,
        conll_sample,
        tmp_path,
        engine="accelerate",
        num_processes=2,
        epochs=2,
        eval_batch_size=5,
        max_eval_samples=11,
    )
    summary = finetune(config)
    history, facts = records(summary)
    assert facts["processes"] == 2
    assert [entry["eval_examples"] for entry in history if "eval_f1" in entry] == [11, 11]
    # Each process takes 8 of the 48 sentences per step: 3 steps an epoch.
    assert [(epoch, step) for epoch, step, *_ in evaluations(history)] == [(1.0, 3), (2.0, 6)]
    AutoModelForTokenClassification.from_pretrained(step_path(summary, "train"))
    assert summary.metrics["validation"]["num_sentences"] == 11
    assert progress_shown(summary.flow_run_id).data == 100.0  # noted by the main process, shown by the train step


def test_a_user_error_in_a_training_process_reaches_the_flow(prefect_server, tiny_model, conll_sample, tmp_path):
    config = tiny_config(tiny_model, conll_sample, tmp_path, num_processes=2, mixed_precision="fp16")
    with pytest.raises(PipelineError, match="fp16 needs a CUDA GPU"):
        finetune(config)
    assert (tmp_path / "checkpoints").is_dir()  # kept for a --resume
    assert not built(tmp_path / "model")

"""ONNX export with a parity gate: the model exported with torch.onnx, run by onnxruntime on the split it was
evaluated on, and shipped only when it agrees with the PyTorch model it came from.

optimum's exporter would be the usual choice, but its ONNX package (optimum-onnx 0.1) requires
transformers < 4.58; torch.onnx's exporter reads the model as it runs, whatever the transformers version.
An export ships when its argmax equals PyTorch's on at least `MIN_AGREEMENT` of the tokens (of the
examples, for classification) and its F1 is within `MAX_F1_DIFFERENCE`; its int8 quantization (onnxruntime's
dynamic quantization) ships when its F1 is within ``max_quantized_drop`` of the full-precision model's.
"""

import importlib.util
import logging
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

from pydantic import BaseModel, ConfigDict

from tasks.config.sections import QuantizationConfig, TaskName, TokenizationConfig
from tasks.console import is_verbose, run_logger
from tasks.errors import PipelineError, first_line
from tasks.pretrained import load_tokenizer
from tasks.profiles import PAIR_COLUMN, Scoring, is_pair, profile_of
from tasks.storage.artifacts import building
from tasks.storage.catalog import LOAD_SUMMARY, ONNX_MODEL, ONNX_QUANTIZED, PARITY
from tasks.storage.files import read_json, write_json
from tasks.storage.step import step

MIN_AGREEMENT, MAX_F1_DIFFERENCE = 0.999, 0.001
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_PACKAGES = ("onnx", "onnxruntime", "onnxscript")


def require_onnx_packages() -> None:
    """Fail in one line, before any work, when the optional ONNX packages are not installed."""
    missing = [name for name in _PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise PipelineError(f"the ONNX export and runtime need {', '.join(missing)}: pip install '.[onnx]'")


class OnnxModel:
    """An ONNX file run by onnxruntime on the CPU, called as the evaluate and predict code calls a transformers
    model: keyword tensors in, an object with ``logits`` out."""

    def __init__(self, path: Path, config) -> None:
        import onnxruntime
        import torch
        from onnxruntime.capi.onnxruntime_pybind11_state import Fail, InvalidProtobuf

        try:
            self.session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except (Fail, InvalidProtobuf) as error:  # a file cut short or not ONNX at all
            raise PipelineError(f"{path}: not a loadable ONNX model ({first_line(error)})") from error
        self.inputs = {node.name for node in self.session.get_inputs()}
        self.config, self.device = config, torch.device("cpu")

    def __call__(self, **inputs) -> SimpleNamespace:
        import torch

        feed = {name: value.cpu().numpy() for name, value in inputs.items() if name in self.inputs}
        [logits] = self.session.run(["logits"], feed)
        return SimpleNamespace(logits=torch.from_numpy(logits))


def write_onnx(model, tokenizer, target: Path) -> None:
    """The model as an ONNX graph with any batch size and sequence length, in one file."""
    import torch

    sample = tokenizer(
        ["Peter Blackburn", "EU rejects German call to boycott British lamb ."], padding=True, return_tensors="pt"
    )
    names = [name for name in _INPUTS if name in sample]
    batch, sequence = torch.export.Dim("batch"), torch.export.Dim("sequence", max=model.config.max_position_embeddings)
    with _exporter_quiet():
        program = torch.onnx.export(
            model,
            (),
            kwargs={name: sample[name] for name in names},
            input_names=names,
            output_names=["logits"],
            dynamic_shapes={name: {0: batch, 1: sequence} for name in names},
            dynamo=True,
            verbose=False,
        )
        program.save(str(target), external_data=False)


@contextmanager
def _exporter_quiet() -> Iterator[None]:
    """Without --verbose, the exporter's and the quantizer's warnings about what they do not need
    (torchvision's operators, their own deprecations, axis names, a pre-processing pass) stay out of
    the console. The quantizer writes to the root logger."""
    if is_verbose():
        yield
        return
    loggers = [logging.getLogger("torch.onnx"), logging.getLogger()]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def quantize(source: Path, target: Path) -> None:
    """onnxruntime's dynamic int8 quantization: int8 weights, activations quantized as they run."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _exporter_quiet():
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8)


def _batches(tokenizer, rows, pair: bool, scoring: Scoring) -> Iterator[dict]:
    """The split's inputs in batches of similar length, truncated to max_length, as tensors."""
    words = "tokens" in rows.column_names
    texts = list(rows["tokens"] if words else rows["text"])
    pairs = list(rows[PAIR_COLUMN]) if pair else None
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    for start in range(0, len(order), scoring.batch_size):
        batch = order[start : start + scoring.batch_size]
        yield tokenizer(
            [texts[i] for i in batch],
            [pairs[i] for i in batch] if pairs else None,
            is_split_into_words=words,
            truncation=True,
            max_length=scoring.tokenization.max_length,
            padding=True,
            return_tensors="pt",
        )


def agreement(reference, candidates: list, tokenizer, rows, scoring: Scoring) -> list[float]:
    """For each candidate, the share of tokens (of examples, for one prediction per example) whose argmax
    equals the reference model's."""
    equal, total = [0] * len(candidates), 0
    for encoded in _batches(tokenizer, rows, is_pair(rows.column_names), scoring):
        expected = reference(**encoded).logits.argmax(dim=-1)
        mask = encoded["attention_mask"].bool() if expected.dim() == 2 else None
        total += int(mask.sum()) if mask is not None else len(expected)
        for index, candidate in enumerate(candidates):
            same = candidate(**encoded).logits.argmax(dim=-1) == expected
            equal[index] += int(same[mask].sum() if mask is not None else same.sum())
    return [count / total for count in equal]


class ParityCheck(BaseModel):
    """The split an export is checked on (the evaluated one), and how it is read."""

    model_config = ConfigDict(frozen=True)

    dataset_dir: str
    split: str
    tokenization: TokenizationConfig
    batch_size: int


def verdicts(f1: dict[str, float], agreement_share: float, quantization: QuantizationConfig) -> dict:
    """Which files ship, and why not when one does not."""
    reasons = {}
    if agreement_share < MIN_AGREEMENT:
        reasons[ONNX_MODEL] = (
            f"its argmax equals PyTorch's on {agreement_share:.2%} of tokens, under {MIN_AGREEMENT:.1%}"
        )
    elif abs(f1["onnx"] - f1["pytorch"]) > MAX_F1_DIFFERENCE:
        reasons[ONNX_MODEL] = (
            f"its F1 {f1['onnx']:.4f} differs from PyTorch's {f1['pytorch']:.4f} by more than {MAX_F1_DIFFERENCE}"
        )
    if quantization.quantize == "int8":
        drop = f1["onnx"] - f1["int8"]
        if ONNX_MODEL in reasons:
            reasons[ONNX_QUANTIZED] = "the full-precision export does not ship"
        elif drop > quantization.max_quantized_drop:
            reasons[ONNX_QUANTIZED] = (
                f"its F1 {f1['int8']:.4f} is {drop:.4f} under the full-precision model's "
                f"{f1['onnx']:.4f}, more than max_quantized_drop {quantization.max_quantized_drop}"
            )
    shipped = [
        name
        for name in (ONNX_MODEL, *([ONNX_QUANTIZED] if quantization.quantize == "int8" else []))
        if name not in reasons
    ]
    return {"shipped": shipped, "not_shipped": reasons}


def _f1(name: str, model, tokenizer, rows, scoring: Scoring, task: TaskName, scratch: Path) -> float:
    scoring = Scoring(scoring.tokenization, scoring.batch_size, scoring.tag_scheme, progress=f"F1 {name}")
    # The parity gate compares the task's headline F1, whichever --metric judges the run: it asks whether the runtimes
    # agree, not how good the model is.
    scored = profile_of(task).evaluation.score(
        model, tokenizer, rows, scoring, scratch / name, scratch / f"{name}-errors.jsonl"
    )
    return round(scored["f1"], 4)


@step()
def export(model_dir: str, parity: ParityCheck, task: TaskName, quantization: QuantizationConfig, out_dir: str) -> str:
    """Export the model, check it against PyTorch on the parity split, and keep the files that pass with
    ``parity.json`` (agreement, F1 of each, what ships and why not); with the tokenizer and config beside
    them, the folder loads as a model directory."""
    import datasets
    import torch

    require_onnx_packages()
    profile = profile_of(task)
    model = profile.model_class().from_pretrained(model_dir, use_safetensors=True).eval()
    tokenizer = load_tokenizer(model_dir)
    rows = datasets.load_from_disk(parity.dataset_dir)[parity.split]
    summary = (
        read_json(Path(parity.dataset_dir) / LOAD_SUMMARY)
        if (Path(parity.dataset_dir) / LOAD_SUMMARY).is_file()
        else {}
    )
    scoring = Scoring(parity.tokenization, parity.batch_size, summary.get("tag_scheme"), progress="parity")
    with building(Path(out_dir)) as partial, tempfile.TemporaryDirectory() as scratch, torch.inference_mode():
        started = time.perf_counter()
        write_onnx(model, tokenizer, partial / ONNX_MODEL)
        candidates = {"onnx": OnnxModel(partial / ONNX_MODEL, model.config)}
        if quantization.quantize == "int8":
            quantize(partial / ONNX_MODEL, partial / ONNX_QUANTIZED)
            candidates["int8"] = OnnxModel(partial / ONNX_QUANTIZED, model.config)
        shares = dict(zip(candidates, agreement(model, list(candidates.values()), tokenizer, rows, scoring)))
        f1 = {
            name: _f1(name, candidate, tokenizer, rows, scoring, task, Path(scratch))
            for name, candidate in {"pytorch": model, **candidates}.items()
        }
        result = {
            "split": parity.split,
            "examples": len(rows),
            "agreement": shares,
            "f1": f1,
            "max_quantized_drop": quantization.max_quantized_drop if "int8" in f1 else None,
            **verdicts(f1, shares["onnx"], quantization),
            "seconds": round(time.perf_counter() - started, 1),
        }
        for name in (ONNX_MODEL, ONNX_QUANTIZED):
            if name in result["not_shipped"] and (partial / name).exists():
                (partial / name).unlink()
        if result["shipped"]:
            model.config.save_pretrained(partial)
            tokenizer.save_pretrained(partial)
        write_json(partial / PARITY, result)
    run_logger().info(describe(result))
    return out_dir


def describe(parity: dict) -> str:
    """The export's one log line: the figures, what ships, and why anything does not."""
    figures = ", ".join(f"{name} F1 {value:.4f}" for name, value in parity["f1"].items())
    agreed = ", ".join(f"{name} {share:.2%}" for name, share in parity["agreement"].items())
    shipped = ", ".join(parity["shipped"]) or "nothing"
    refused = "".join(f"; {name} not shipped: {reason}" for name, reason in parity["not_shipped"].items())
    return f"ONNX export on {parity['split']}: {figures}; argmax as PyTorch's: {agreed}; ships {shipped}{refused}."


def copy_shipped(export_dir: Path, target: Path) -> None:
    """The export's shipped files, its tokenizer and config, and parity.json, into ``target`` (a release's onnx/)."""
    target.mkdir()
    for file in export_dir.iterdir():
        if file.is_file() and not file.name.startswith("."):
            shutil.copy2(file, target / file.name)

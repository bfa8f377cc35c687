"""predict: a fine-tuned model run over the input, with the evaluate step's windows and batching.

The artifact holds the input with its predictions as an Arrow dataset (``dataset/``) and, for people and
other programs: for NER, CoNLL text (``word predicted-tag``) and JSON lines of each input's entities as
character spans of its text; for classification, CSV and JSON lines with the label and every class's
probability. ``prediction_summary.json`` names the model, the input and the outputs, with counts and speed.
"""

import csv
import json
import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from tasks.config.sections import TaskName, TokenizationConfig
from tasks.data.spans import entity_words
from tasks.errors import PipelineError
from tasks.pretrained import check_model_dir, load_tokenizer, pickle_only, refuse_pickle
from tasks.profiles import Scoring, profile_of
from tasks.scores.quality_gate import card_weights_sha256
from tasks.steps.export import OnnxModel
from tasks.steps.read import INPUT_SPLIT
from tasks.storage.artifacts import building
from tasks.storage.catalog import (
    CARD,
    CLASSIFICATION_OUTPUTS,
    INPUT_SUMMARY,
    NER_OUTPUTS,
    ONNX,
    ONNX_MODEL,
    ONNX_QUANTIZED,
    PARITY,
    PREDICTED_ROWS,
    PREDICTION_SUMMARY,
    SCORED_ERRORS,
)
from tasks.storage.files import hash_files, read_json, weights_sha256, write_json
from tasks.storage.step import step
from tasks.weights import check_weights

_HEADS = {"ForTokenClassification": "ner", "ForSequenceClassification": "sequence-classification"}


class PredictionModel(BaseModel):
    """The model a prediction runs: its directory, what it was trained for, and which runtime runs which file."""

    model_config = ConfigDict(frozen=True)

    location: str
    digest: str  # of every file, so a changed model predicts again
    weights_sha256: str
    task: TaskName
    runtime: Literal["pytorch", "onnx"] = "pytorch"
    onnx_file: str | None = None  # the file onnxruntime runs: relative to location, or an export's own path
    pickle_weights: bool = False  # weights only as a pickle, loaded because --allow-pickle-weights said so

    def labels(self) -> list[str]:
        config = read_json(Path(self.location) / "config.json")
        return [config["id2label"][str(index)] for index in range(len(config["id2label"]))]


def model_task(model_dir: Path) -> TaskName:
    """What a model directory was fine-tuned for, from its config's architecture."""
    architectures = read_json(model_dir / "config.json").get("architectures") or []
    for suffix, task in _HEADS.items():
        if any(name.endswith(suffix) for name in architectures):
            return task
    raise PipelineError(
        f"{model_dir} is not a fine-tuned token or sequence classification model (architectures: "
        f"{', '.join(architectures) or 'none'}): predict runs what finetune released"
    )


def onnx_file(folder: Path) -> Path | None:
    """The ONNX file to run in ``folder``: its int8 quantization when it holds one; None when it holds none."""
    return next((folder / name for name in (ONNX_QUANTIZED, ONNX_MODEL) if (folder / name).is_file()), None)


def prediction_model(
    model_dir: Path, runtime: Literal["pytorch", "onnx"], allow_pickle: bool = False
) -> PredictionModel:
    """The model in ``model_dir`` as a prediction runs it; with the onnx runtime, the ONNX file its release
    ships (None when it ships none: the flow exports one, `with_export`). Weights only as a pickle are
    refused unless ``allow_pickle``; damaged weights, or weights that are not the ones its card records, are
    refused (`tasks.weights`)."""
    check_model_dir(model_dir)
    pickled = pickle_only([path.name for path in model_dir.iterdir()])
    if pickled and not allow_pickle:
        raise refuse_pickle(str(model_dir))
    card = model_dir / CARD
    check_weights(model_dir, card_weights_sha256(card.read_text(errors="replace")) if card.is_file() else None)
    shipped = onnx_file(model_dir / ONNX) if runtime == "onnx" else None
    files = [path for path in model_dir.rglob("*") if path.is_file() and path.name != CARD]
    return PredictionModel(
        location=str(model_dir),
        digest=hash_files(files),
        weights_sha256=weights_sha256(model_dir),
        task=model_task(model_dir),
        runtime=runtime,
        onnx_file=str(shipped.relative_to(model_dir)) if shipped else None,
        pickle_weights=pickled,
    )


def with_export(model: PredictionModel, export_dir: Path) -> PredictionModel:
    """The model run from an export made for this run; an error naming why when it shipped nothing."""
    exported = onnx_file(export_dir)
    if exported is None:
        raise PipelineError(
            f"the ONNX export of {model.location} did not pass its parity check, so there is no ONNX "
            f"model to run: {read_json(export_dir / PARITY)['not_shipped'][ONNX_MODEL]}"
        )
    return model.model_copy(update={"onnx_file": str(exported)})


class PredictionSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    tokenization: TokenizationConfig
    batch_size: int
    score: bool


def entity_spans(text: str, tags: list[str], scores: list[float], offsets: list[list[int]]) -> list[dict]:
    """Words tagged B-X, I-X, … grouped into entities (`tasks.data.spans.entity_words`), each a span of ``text`` with
    its type and the mean probability of its words' tags."""
    return [
        {
            "entity_group": kind,
            "word": text[offsets[first][0] : offsets[last][1]],
            "start": offsets[first][0],
            "end": offsets[last][1],
            "score": round(sum(scores[first : last + 1]) / (last + 1 - first), 4),
        }
        for first, last, kind in entity_words(tags)
    ]


def _load(model: PredictionModel):
    """The model as the runtime runs it, on the GPU when there is one for PyTorch."""
    from transformers import AutoConfig

    from tasks.hardware import compute_device

    if model.runtime == "onnx":
        return OnnxModel(Path(model.location) / model.onnx_file, AutoConfig.from_pretrained(model.location))
    model_class = profile_of(model.task).model_class()
    return (
        model_class.from_pretrained(model.location, use_safetensors=not model.pickle_weights)
        .to(compute_device())
        .eval()
    )


def _ner_outputs(rows, labels: list[str], scoring: Scoring, runner, tokenizer, out: Path) -> tuple[dict, dict]:
    """Tags and entities per sentence; the columns added to the dataset, and the counts for the summary."""
    from tasks.data.context import document_ids
    from tasks.profiles.ner.evaluation import predict_words

    words = predict_words(runner, tokenizer, list(rows["tokens"]), scoring, document_ids(rows))
    tags = [[labels[tag] for tag in sentence] for sentence in words.labels]
    scores = [[round(score, 4) for score in sentence] for sentence in words.scores]
    entities = [entity_spans(text, *row) for text, row in zip(rows["text"], zip(tags, scores, rows["offsets"]))]
    with open(out / NER_OUTPUTS[0], "w", encoding="utf-8") as conll:
        for sentence, sentence_tags in zip(rows["tokens"], tags):
            conll.writelines(f"{word} {tag}\n" for word, tag in zip(sentence, sentence_tags))
            conll.write("\n")
    with open(out / NER_OUTPUTS[1], "w", encoding="utf-8") as lines:
        for line, text, found in zip(rows["line"], rows["text"], entities):
            lines.write(json.dumps({"line": line, "text": text, "entities": found}, ensure_ascii=False) + "\n")
    counts: dict[str, int] = {}
    for entity in (entity for found in entities for entity in found):
        counts[entity["entity_group"]] = counts.get(entity["entity_group"], 0) + 1
    return {"predicted": tags, "scores": scores}, {"windowed": words.windowed, "entities": dict(sorted(counts.items()))}


def _classification_outputs(
    rows, labels: list[str], scoring: Scoring, runner, tokenizer, out: Path
) -> tuple[dict, dict]:
    """A label and every class's probability per text; the columns added, and the counts for the summary."""
    from tasks.profiles import PAIR_COLUMN, is_pair
    from tasks.profiles.sequence_classification.evaluation import best, predict_texts

    texts, pairs = list(rows["text"]), list(rows[PAIR_COLUMN]) if is_pair(rows.column_names) else None
    probabilities = predict_texts(runner, tokenizer, texts, pairs, scoring)
    predicted = [labels[best(row)] for row in probabilities]
    lengths = tokenizer(texts, pairs, verbose=False, return_length=True)["length"]
    with open(out / CLASSIFICATION_OUTPUTS[0], "w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(["line", "text", *(["text_pair"] if pairs else []), "label", *labels])
        for index, row in enumerate(probabilities):
            pair = [pairs[index]] if pairs else []
            writer.writerow([rows["line"][index], texts[index], *pair, predicted[index], *(f"{p:.4f}" for p in row)])
    with open(out / CLASSIFICATION_OUTPUTS[1], "w", encoding="utf-8") as lines:
        for index, row in enumerate(probabilities):
            record = {
                "line": rows["line"][index],
                "text": texts[index],
                **({"text_pair": pairs[index]} if pairs else {}),
                "label": predicted[index],
                "probabilities": {label: round(p, 4) for label, p in zip(labels, row)},
            }
            lines.write(json.dumps(record, ensure_ascii=False) + "\n")
    counts = {label: predicted.count(label) for label in labels}
    truncated = sum(length > scoring.tokenization.max_length for length in lengths)
    return {"predicted": predicted, "probabilities": probabilities}, {"truncated": truncated, "labels": counts}


def _scores(task: TaskName, runner, tokenizer, rows, scoring: Scoring, out: Path) -> dict:
    """The evaluate step's scores of the input (its part of evaluate, run again), its CoNLL or CSV file and
    its mistakes (``errors.jsonl``)."""
    scoring = Scoring(scoring.tokenization, scoring.batch_size, progress="score")
    return profile_of(task).evaluation.score(runner, tokenizer, rows, scoring, out / "scored", out / SCORED_ERRORS)


@step()
def predict(model: PredictionModel, input_dir: str, settings: PredictionSettings, out_dir: str) -> str:
    """Run the model over every row of the input; write the dataset with its predictions, the outputs for
    the task, and ``prediction_summary.json``; with ``settings.score``, the evaluate step's scores too."""
    import datasets
    import torch

    rows = datasets.load_from_disk(input_dir)[INPUT_SPLIT]
    read = read_json(Path(input_dir) / INPUT_SUMMARY)
    if settings.score and read["unscorable"]:
        raise PipelineError(f"cannot score {read['source']['location']}: {read['unscorable']}")
    runner, tokenizer, labels = _load(model), load_tokenizer(model.location), model.labels()
    scoring = Scoring(settings.tokenization, settings.batch_size, progress="predict")
    outputs = _ner_outputs if model.task == "ner" else _classification_outputs
    with building(Path(out_dir)) as partial, torch.inference_mode():
        started = time.perf_counter()
        columns, counts = outputs(rows, labels, scoring, runner, tokenizer, partial)
        seconds = time.perf_counter() - started
        for name, values in columns.items():
            rows = rows.add_column(name, values)
        rows.save_to_disk(str(partial / PREDICTED_ROWS))
        scores = _scores(model.task, runner, tokenizer, rows, scoring, partial) if settings.score else None
        write_json(
            partial / PREDICTION_SUMMARY,
            {
                "model": model.model_dump(),
                "input": read["source"],
                "rows": len(rows),
                "problems": read["problems"],
                **counts,
                "seconds": round(seconds, 2),
                "rows_per_second": round(len(rows) / seconds, 1),
                "outputs": [PREDICTED_ROWS, *(NER_OUTPUTS if model.task == "ner" else CLASSIFICATION_OUTPUTS)],
                "scores": scores,
            },
        )
    return out_dir

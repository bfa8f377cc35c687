"""The predict flow on a tiny model fine-tuned here with --export onnx, over real CoNLL-2003 sentences:
CoNLL, plain text and CSV inputs, caching, windows, --score, and the ONNX runtime and its parity gate."""

import copy
import csv
import json
from pathlib import Path

import pytest

from conftest import conll_sentences, ui_artifacts
from flows.finetune import finetune
from flows.predict import predict_flow
from tasks.config.finetune import FinetuneConfig
from tasks.config.prediction import PredictConfig
from tasks.config.sections import QuantizationConfig, TokenizationConfig

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def released(prefect_server, tiny_model, conll_sample, tmp_path_factory):
    """A release of the tiny model fine-tuned on the sample, shipping its ONNX export and int8 quantization."""
    config = FinetuneConfig(
        model=str(tiny_model),
        dataset=str(conll_sample),
        artifacts_dir=tmp_path_factory.mktemp("artifacts"),
        max_train_samples=None,
        batch_size=8,
        eval_batch_size=16,
        learning_rate=1e-3,
        epochs=3,
        export="onnx",
        quantize="int8",
        max_quantized_drop=1.0,
    )
    return config, finetune(config)


def predict(released, input: Path, **options):
    config, summary = released
    return predict_flow(
        PredictConfig(model=summary.model_dir, input=str(input), artifacts_dir=config.artifacts_dir, **options)
    )


def outputs(summary) -> Path:
    return Path(summary.output_dir)


def predicted_tags(summary) -> list[list[str]]:
    """The tags of predictions.conll, a list per sentence."""
    blocks = (outputs(summary) / "predictions.conll").read_text().strip("\n").split("\n\n")
    return [[line.split(" ")[1] for line in block.splitlines()] for block in blocks]


def test_a_conll_file_is_predicted_and_scored_as_the_evaluate_step_scores_it(released, conll_sample):
    config, finetuned = released
    summary = predict(released, conll_sample / "test.txt", score=True, batch_size=config.eval_batch_size)
    expected = finetuned.metrics["test"]
    assert {name: summary.scores[name] for name in expected} == expected
    words = [
        [line.split()[0] for line in block.splitlines()] for block in conll_sentences(conll_sample / "test.txt", 16)
    ]
    assert summary.rows == 16 and [len(tags) for tags in predicted_tags(summary)] == [len(row) for row in words]
    entities = [json.loads(line) for line in (outputs(summary) / "entities.jsonl").read_text().splitlines()]
    assert [row["text"] for row in entities] == [" ".join(row) for row in words]
    spans = [entity for row in entities for entity in row["entities"]]
    assert spans, "the fine-tuned model finds entities in 16 news sentences"
    for row in entities:
        for entity in row["entities"]:
            assert row["text"][entity["start"] : entity["end"]] == entity["word"] and 0 < entity["score"] <= 1
    assert sum(summary.counts["entities"].values()) == len(spans)
    shown = ui_artifacts(str(summary.flow_run_id))
    assert {"predictions", "predicted-counts"} <= set(shown)
    # The mistakes, as the evaluate step listed them, with the line each sentence starts on.
    scored = [json.loads(line) for line in (outputs(summary) / "errors.jsonl").read_text().splitlines()]
    evaluated = (Path(finetuned.model_dir) / "errors" / "test.jsonl").read_text().splitlines()
    assert [{key: value for key, value in row.items() if key != "line"} for row in scored] == [
        json.loads(line) for line in evaluated
    ]
    lines = (conll_sample / "test.txt").read_text().splitlines()
    assert scored and all(lines[row["line"] - 1].split()[0] == row["words"][0] for row in scored)


def test_the_entities_written_are_input_again_their_spans_the_tags_to_score(released, conll_sample):
    config, _ = released
    first = predict(released, conll_sample / "test.txt", batch_size=config.eval_batch_size)
    again = predict(released, outputs(first) / "entities.jsonl", score=True, batch_size=config.eval_batch_size)
    assert again.rows == 16 and again.problems == [] and 0 <= again.scores["f1"] <= 1


def test_plain_text_and_csv_give_the_same_predictions_a_blank_line_ends_a_document_and_an_empty_row_is_reported(
    released, conll_sample, tmp_path
):
    texts = [
        " ".join(line.split()[0] for line in block.splitlines())
        for block in conll_sentences(conll_sample / "test.txt", 6)
    ]
    plain = tmp_path / "week.txt"
    plain.write_text("\n".join([*texts[:3], "", *texts[3:]]) + "\n")
    table = tmp_path / "week.csv"
    with open(table, "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["id", "text"])
        writer.writerows([[1, texts[0]], [2, ""], *([number, text] for number, text in enumerate(texts[1:], 3))])
    from_text, from_csv = predict(released, plain), predict(released, table)
    assert from_text.problems == [] and from_csv.problems == ["line 3: empty text"]
    assert from_text.rows == from_csv.rows == 6
    assert predicted_tags(from_text) == predicted_tags(from_csv)


def test_a_second_run_is_free_and_a_changed_input_runs_again(released, conll_sample, tmp_path):
    data = tmp_path / "news.txt"
    data.write_text("\n\n".join(conll_sentences(conll_sample / "valid.txt", 8)) + "\n")
    first = predict(released, data)
    again = predict(released, data)
    assert [step.cached for step in first.steps] == [False, False] and [step.cached for step in again.steps] == [
        True,
        True,
    ]
    assert again.output_dir == first.output_dir
    data.write_text("\n\n".join(conll_sentences(conll_sample / "valid.txt", 9)) + "\n")
    changed = predict(released, data)
    assert [step.cached for step in changed.steps] == [False, False] and changed.rows == 9


def test_a_long_input_is_read_a_sentence_at_a_time_with_the_context_asked(released, conll_sample, tmp_path):
    """A document given as one input longer than the model's length is predicted as its sentences are: alone
    by default (the model was trained without context), and with context as the same sentences marked as one
    document of a CoNLL file are."""
    from tasks.data.context import SENTENCE_ENDS

    found = [
        [line.split()[0] for line in block.splitlines()] for block in conll_sentences(conll_sample / "train.txt", 48)
    ]
    # Sentences that end, and only end, in a sentence end, so that the long input splits where they do.
    sentences = [words for words in found if words[-1] in SENTENCE_ENDS and not set(words[:-1]) & SENTENCE_ENDS][:8]
    document = tmp_path / "document.txt"
    document.write_text("".join(f"{word} O\n" for words in sentences for word in words))
    separate, marked = tmp_path / "sentences.txt", tmp_path / "marked.txt"
    separate.write_text("\n".join("".join(f"{word} O\n" for word in words) for words in sentences))
    marked.write_text("-DOCSTART- -X- -X- O\n\n" + separate.read_text())
    long = predict(released, document, max_length=40)
    [tags] = predicted_tags(long)
    assert long.counts["windowed"] == 1 and len(tags) == sum(map(len, sentences))
    assert tags == [tag for sentence in predicted_tags(predict(released, separate, max_length=40)) for tag in sentence]
    [with_context] = predicted_tags(predict(released, document, max_length=40, context=12))
    assert with_context == [
        tag for sentence in predicted_tags(predict(released, marked, max_length=40, context=12)) for tag in sentence
    ]
    assert with_context != tags  # context changes what a random-ish tiny model predicts: the comparison means something
    [onnx] = predicted_tags(predict(released, document, max_length=40, context=12, runtime="onnx"))
    assert (
        sum(a == b for a, b in zip(onnx, with_context)) / len(with_context) >= 0.95
    )  # the int8 model, read the same way


def test_the_release_ships_its_onnx_export_which_predicts_as_pytorch_does(released, conll_sample):
    _, finetuned = released
    release = Path(finetuned.model_dir)
    parity = json.loads((release / "onnx" / "parity.json").read_text())
    assert parity["shipped"] == ["model.onnx", "model_quantized.onnx"] and parity["agreement"]["onnx"] >= 0.999
    assert abs(parity["f1"]["onnx"] - parity["f1"]["pytorch"]) <= 0.001
    assert parity["f1"]["pytorch"] == round(finetuned.metrics["test"]["f1"], 4)
    card = (release / "README.md").read_text()
    assert "## ONNX export" in card and "`onnx/model_quantized.onnx`" in card
    pytorch = predict(released, conll_sample / "test.txt")
    onnx = predict(released, conll_sample / "test.txt", runtime="onnx")
    assert onnx.model.onnx_file == "onnx/model_quantized.onnx" and onnx.output_dir != pytorch.output_dir
    same = [a == b for x, y in zip(predicted_tags(pytorch), predicted_tags(onnx)) for a, b in zip(x, y)]
    assert sum(same) / len(same) >= parity["agreement"]["int8"] - 0.02


def test_an_export_that_disagrees_with_pytorch_is_not_shipped(released, conll_sample, tmp_path, monkeypatch):
    """A broken exporter (it exports the model with its classifier's weights scrambled) is caught by the parity
    check: nothing ships, parity.json and the log say why, and the onnx runtime refuses to run it."""
    import torch

    import tasks.steps.export as onnx_export
    from tasks.errors import PipelineError
    from tasks.steps.export import ParityCheck, export
    from tasks.storage.step import ArtifactStore

    real_export = onnx_export.write_onnx

    def scrambled_export(model, tokenizer, target):
        scrambled = copy.deepcopy(model)
        with torch.no_grad():
            scrambled.classifier.weight.copy_(scrambled.classifier.weight.flip(0))
        real_export(scrambled, tokenizer, target)

    monkeypatch.setattr(onnx_export, "write_onnx", scrambled_export)
    config, finetuned = released
    loaded = next(step.path for step in finetuned.steps if step.name == "load")
    model = next(step.path for step in finetuned.steps if step.name == "train")
    parity = ParityCheck(dataset_dir=loaded, split="test", tokenization=TokenizationConfig(), batch_size=16)
    report = export(model, parity, "ner", QuantizationConfig(), store=ArtifactStore(root=tmp_path))
    checked = json.loads((Path(report.path) / "parity.json").read_text())
    assert checked["shipped"] == [] and "of tokens, under 99.9%" in checked["not_shipped"]["model.onnx"]
    assert not (Path(report.path) / "model.onnx").exists()
    from tasks.steps.predict import prediction_model, with_export

    with pytest.raises(PipelineError, match="did not pass its parity check"):
        with_export(prediction_model(Path(model), "onnx"), Path(report.path))

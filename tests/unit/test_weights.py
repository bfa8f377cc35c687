"""Damaged weights (`tasks.weights`) are one line naming the file and what is wrong, wherever a model loads:
the base model, the predict flow's model (checked against its card's sha256), an ONNX file, the gate's champion."""

import re
import shutil
from pathlib import Path

import pytest

from conftest import damaged_weights, token_classifier
from tasks.config.sections import ModelConfig
from tasks.errors import PipelineError
from tasks.pretrained import resolve_model
from tasks.scores.quality_gate import Score, decide
from tasks.steps.export import OnnxModel
from tasks.steps.predict import prediction_model
from tasks.storage.files import weights_sha256
from tasks.weights import weights_problem


@pytest.fixture(scope="module")
def release(tiny_model, tmp_path_factory) -> Path:
    return token_classifier(tiny_model, tmp_path_factory.mktemp("release"))


CASES = {
    "truncated": r"truncated: [\d,]+ bytes where its header describes [\d,]+",
    "cut in the header": r"truncated: 100 bytes, cut inside its [\d,]+-byte header",
    "not safetensors": r"not safetensors: its first bytes are not a header length",
    "other weights": r"its weights' sha256 \w{12}… is not the \w{12}… its card records",
}


@pytest.mark.parametrize("how", CASES)
def test_damaged_weights_are_named_with_the_file_and_what_is_wrong(release, tmp_path, how):
    folder = damaged_weights(release, tmp_path / "model", how)
    recorded = weights_sha256(release)
    assert weights_problem(release, recorded) is None
    problem = weights_problem(folder, recorded)
    assert problem and re.search(CASES[how], problem)
    assert problem.startswith(str(folder if how == "other weights" else folder / "model.safetensors"))
    with pytest.raises(PipelineError, match=re.escape(f"the model's weights do not load: {problem}")):
        prediction_model(folder, "pytorch")
    if how != "other weights":  # a base model has no card to check its weights against
        with pytest.raises(PipelineError, match=CASES[how]):
            resolve_model(ModelConfig(model=str(folder)))


def test_a_sharded_model_missing_a_shard_and_a_pickle_that_is_not_one_are_named(release, tmp_path):
    sharded = tmp_path / "sharded"
    shutil.copytree(release, sharded)
    (sharded / "model.safetensors.index.json").write_text('{"weight_map": {"a": "model-00001-of-00002.safetensors"}}')
    assert (
        weights_problem(sharded)
        == f"{sharded / 'model-00001-of-00002.safetensors'}: missing, though model.safetensors.index.json names it"
    )
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "pytorch_model.bin").write_bytes(b"\x80\x04not a zip")
    assert weights_problem(pickled) == f"{pickled / 'pytorch_model.bin'}: not a PyTorch pickle: it is not a zip archive"


def test_an_onnx_file_that_is_not_one_is_named(tmp_path):
    broken = tmp_path / "model.onnx"
    broken.write_bytes(b"\x08\x07\x12\x07pytorch" + bytes(50))
    with pytest.raises(PipelineError, match=re.escape(f"{broken}: not a loadable ONNX model (") + ".*INVALID_PROTOBUF"):
        OnnxModel(broken, None)


def test_a_damaged_champion_is_replaced_by_a_sound_model_that_clears_the_floor():
    challenger = Score(dataset="conll2003", fingerprint="f", split="test", metric="f1", value=0.8)
    problem = "/r/model.safetensors: truncated: 10 bytes where its header describes 90"
    replaced = decide(challenger, None, margin=0.0, floor=0.1, damaged=problem)
    assert replaced.publish and replaced.reason == (
        f"the published model cannot be scored because it is damaged ({problem}); this model replaces it"
    )
    assert not decide(challenger, None, margin=0.0, floor=0.9, damaged=problem).publish

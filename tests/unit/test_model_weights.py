"""Models that cannot run code: weights only as a pickle are refused unless --allow-pickle-weights, which
loads them; no loader of ours trusts remote code."""

import re
from pathlib import Path

import pytest

from conftest import REPO, build_tiny_model
from tasks.config.sections import ModelConfig
from tasks.errors import PipelineError
from tasks.pretrained import resolve_model


@pytest.fixture(scope="module")
def pickled_model(tmp_path_factory) -> Path:
    """The tiny model with its weights as pytorch_model.bin alone, as older Hub repos have them."""
    import torch
    from safetensors.torch import load_file

    folder = build_tiny_model(tmp_path_factory.mktemp("pickled"))
    torch.save(load_file(folder / "model.safetensors"), folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    return folder


def test_a_pickled_model_is_refused_naming_the_option(pickled_model):
    with pytest.raises(PipelineError, match=r"only as a pickle \(pytorch_model.bin\).*--allow-pickle-weights"):
        resolve_model(ModelConfig(model=str(pickled_model)))


def test_allowed_pickle_weights_load_and_are_the_same_weights(pickled_model, tiny_model):
    import torch

    from tasks.engines.common import load_model

    source = resolve_model(ModelConfig(model=str(pickled_model), allow_pickle_weights=True))
    assert source.pickle_weights and not resolve_model(ModelConfig(model=str(tiny_model))).pickle_weights
    loaded = load_model(source, ["O", "B-PER", "I-PER"], "ner")
    safe = load_model(resolve_model(ModelConfig(model=str(tiny_model))), ["O", "B-PER", "I-PER"], "ner")
    encoder = "bert.encoder.layer.0.attention.self.query.weight"
    assert torch.equal(loaded.state_dict()[encoder], safe.state_dict()[encoder])


def test_predict_refuses_a_pickled_model_unless_allowed(pickled_model, tmp_path):
    import shutil

    from transformers import AutoConfig

    from tasks.steps.predict import prediction_model

    model = shutil.copytree(pickled_model, tmp_path / "classifier")
    config = AutoConfig.from_pretrained(model)
    config.architectures = ["BertForTokenClassification"]
    config.save_pretrained(model)
    with pytest.raises(PipelineError, match="--allow-pickle-weights"):
        prediction_model(model, "pytorch")
    assert prediction_model(model, "pytorch", allow_pickle=True).pickle_weights


def test_no_loader_of_ours_trusts_remote_code():
    sources = [path for folder in ("flows", "tasks") for path in (REPO / folder).rglob("*.py")]
    assert sources and [path for path in sources if re.search(r"trust_remote_code\s*=", path.read_text())] == []

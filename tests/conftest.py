"""Fixtures of every tier (unit/, flows/, integration/): a tiny real model, a few dozen real CoNLL-2003
sentences, a Prefect test server, a bucket."""

import os
import shutil
from pathlib import Path

import pytest

# The suite runs as in a fresh shell whatever Hugging Face settings the user's holds (an offline switch, another
# endpoint, a token): cleared before anything imports huggingface_hub, which reads them once on import.
for name in [name for name in os.environ if name.startswith(("HF_", "HUGGING_FACE_", "TRANSFORMERS_"))]:
    del os.environ[name]
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from tasks.data.assets import embedded_conll2003_files, embedded_model_dir

REPO = Path(__file__).resolve().parent.parent
# The longest module starts first, so that the other test process runs the rest beside it (pyproject's addopts).
LONGEST_FIRST = ("tests/integration/test_retraining_soak.py",)


def pytest_collection_modifyitems(items: list) -> None:
    items.sort(key=lambda item: item.nodeid.split("::")[0] not in LONGEST_FIRST)


def conll_sentences(path: Path, count: int) -> list[str]:
    """The first ``count`` sentences of a CoNLL file, as blocks of lines."""
    blocks = [block for block in path.read_text().split("\n\n") if block.strip() and "-DOCSTART-" not in block]
    return blocks[:count]


def leaked_folder(conll_sample: Path, target: Path, count: int = 16) -> Path:
    """The sample with its test split replaced by the first ``count`` training sentences."""
    shutil.copytree(conll_sample, target)
    (target / "test.txt").write_text("\n\n".join(conll_sentences(conll_sample / "train.txt", count)) + "\n")
    return target


def long_document(conll_sample, sentences: int) -> tuple[list[str], list[int]]:
    """The first sentences of the sample's training file as one input: its words and label ids."""
    from tasks.config.sections import DataConfig
    from tasks.data.sources import read_source, resolve_dataset
    from tasks.steps.load import normalize

    data = DataConfig(dataset=str(conll_sample), max_train_samples=None)
    source = resolve_dataset(data)
    train = normalize(read_source(source, data).splits, source, data, "ner")[0]["train"].select(range(sentences))
    return [word for row in train["tokens"] for word in row], [tag for row in train["ner_tags"] for tag in row]


@pytest.fixture(scope="session")
def conll_sample(tmp_path_factory) -> Path:
    """A folder with train/valid/test files of real CoNLL-2003 sentences (48 / 16 / 16)."""
    folder = tmp_path_factory.mktemp("conll_sample")
    for split, count in (("train", 48), ("validation", 16), ("test", 16)):
        source = embedded_conll2003_files()[split]
        target = folder / ("valid.txt" if split == "validation" else f"{split}.txt")
        target.write_text("\n\n".join(conll_sentences(source, count)) + "\n")
    return folder


def build_tiny_model(target: Path, seed: int = 0, layers: int = 2) -> Path:
    """A 2-layer, 32-wide BERT from a real config, with the embedded (real) tokenizer."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
    )
    BertModel(config).save_pretrained(target)
    AutoTokenizer.from_pretrained(embedded_model_dir()).save_pretrained(target)
    return target


def token_classifier(tiny_model: Path, target: Path, labels: tuple[str, ...] = ("O", "B-PER", "I-PER")) -> Path:
    """The tiny model with a token classification head for ``labels``, as a release holds it, with a card
    recording its weights' sha256."""
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from tasks.storage.files import weights_sha256

    AutoModelForTokenClassification.from_pretrained(
        tiny_model, num_labels=len(labels), id2label=dict(enumerate(labels))
    ).save_pretrained(target)
    AutoTokenizer.from_pretrained(tiny_model).save_pretrained(target)
    (target / "README.md").write_text(f"---\nweights_sha256: {weights_sha256(target)}\n---\n# A release\n")
    return target


def damaged_weights(model: Path, target: Path, how: str) -> Path:
    """A copy of ``model`` whose model.safetensors is ``truncated``, ``cut in the header``, ``not safetensors``
    (a web page saved in its place), or whole but with other weights than the card records."""
    shutil.copytree(model, target)
    weights = target / "model.safetensors"
    data = weights.read_bytes()
    if how == "truncated":
        weights.write_bytes(data[: len(data) // 2])
    elif how == "cut in the header":
        weights.write_bytes(data[:100])
    elif how == "not safetensors":
        weights.write_text("<html><body>Bad gateway</body></html>\n")
    else:
        weights.write_bytes(data[:-4] + bytes(4))
    return target


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny_model"))


@pytest.fixture(scope="session")
def prefect_server():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def copy_of(tmp_path):
    def copy(path: Path) -> Path:
        target = tmp_path / path.name
        shutil.copytree(path, target)
        return target

    return copy


def ui_artifacts(flow_run_id: str) -> dict:
    """The Prefect UI artifacts a flow run made, by key, as the server holds them."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    return {artifact.key: artifact for artifact in found}


def flow_run_logs(flow_run_id, expected: str) -> list[str]:
    """The messages a flow run logged, its task runs' included, as the server holds them, once one holds
    ``expected`` (the run's log handler sends in batches, a moment after the run ends)."""
    import time

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    deadline = time.monotonic() + 30
    with get_client(sync_client=True) as client:
        while True:
            logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
            messages = [log.message for log in logs]
            if any(expected in message for message in messages) or time.monotonic() > deadline:
                return messages
            time.sleep(0.5)


def progress_shown(flow_run_id: str):
    """The training progress artifact of a run (its train step runs in the train-evaluate subflow)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterKey,
        FlowRunFilter,
        FlowRunFilterParentFlowRunId,
    )

    from tasks.progress import PROGRESS_KEY

    with get_client(sync_client=True) as client:
        subflows = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[flow_run_id]))
        )
        found = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[PROGRESS_KEY])))
    [artifact] = [artifact for artifact in found if artifact.flow_run_id in {run.id for run in subflows}]
    return artifact


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """moto's S3 server on 127.0.0.1, for this process and every process it starts (through
    AWS_ENDPOINT_URL, which botocore and so s3fs read), with throw-away credentials."""
    import subprocess
    import sys

    from flows.temporary_server import free_port, wait_for_server

    port = free_port()
    settings = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}
    saved = {name: os.environ.get(name) for name in [*settings, "AWS_ENDPOINT_URL"]}
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    with open(tmp_path_factory.mktemp("s3") / "moto.log", "w") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        endpoint = f"http://127.0.0.1:{port}"
        os.environ.update({**settings, "AWS_ENDPOINT_URL": endpoint})
        try:
            wait_for_server(server, endpoint, 60, probe="/", name="the S3 server")  # moto lists the buckets at /
            yield endpoint
        finally:
            server.terminate()
            server.wait(timeout=20)
            for name, value in saved.items():
                os.environ.pop(name, None) if value is None else os.environ.update({name: value})


@pytest.fixture
def bucket(s3_server) -> str:
    """A new, empty bucket on the S3 server; its ``artifacts`` prefix as an artifacts directory."""
    import uuid

    import fsspec

    name = f"test-{uuid.uuid4().hex[:12]}"
    fsspec.filesystem("s3").mkdir(name)
    return f"s3://{name}/artifacts"


@pytest.fixture
def staging(tmp_path, monkeypatch) -> Path:
    """A staging directory of this test's own (FINETUNE_STAGING_DIR)."""
    from tasks.storage.buckets import STAGING_VARIABLE

    folder = tmp_path / "staging"
    monkeypatch.setenv(STAGING_VARIABLE, str(folder))
    return folder

"""Training on several machines: the options that describe the group, and two nodes training as one."""

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from flows.preflight import training_of
from flows.temporary_server import free_port
from tasks.config.command_line import parse_command_line
from tasks.config.finetune import FinetuneConfig
from tasks.config.sections import DataConfig, ModelConfig, TokenizationConfig
from tasks.config.training import TrainingConfig
from tasks.data.sources import resolve_dataset
from tasks.errors import PipelineError
from tasks.pretrained import resolve_model
from tasks.steps.load import load
from tasks.steps.tokenize import tokenize
from tasks.steps.train import Launch, join_training, train
from tasks.storage.artifacts import is_complete, local_dir
from tasks.storage.catalog import TRAIN_HISTORY, TRAIN_SUMMARY
from tasks.storage.step import ArtifactStore


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["--num-nodes", "2", "--node-rank", "2", "--rdzv-endpoint", "h:1"], "node_rank 2 is not below num_nodes 2"),
        (["--num-nodes", "2"], "num_nodes 2 needs rdzv_endpoint: the host:port on node 0"),
        (["--num-nodes", "2", "--rdzv-endpoint", "node0"], "rdzv_endpoint 'node0' is not host:port"),
        (["--num-nodes", "2", "--rdzv-endpoint", "node0:0"], "rdzv_endpoint 'node0:0' is not host:port"),
        (["--rdzv-endpoint", "node0:29500"], "rdzv_endpoint is for num_nodes above 1"),
        (["--num-nodes", "2", "--rdzv-endpoint", "node0:29500", "--resume"], "resume works on one node only"),
    ],
)
def test_a_node_group_that_cannot_meet_is_refused(argv, problem):
    with pytest.raises(PipelineError, match=problem):
        parse_command_line(argv)


def test_every_node_computes_the_same_keys():
    node0 = parse_command_line(["--num-nodes", "2", "--rdzv-endpoint", "[::1]:29500"])[0]
    node1 = parse_command_line(["--num-nodes", "2", "--rdzv-endpoint", "[::1]:29500", "--node-rank", "1"])[0]
    assert node1.node_rank == 1 and node0.rdzv_endpoint == "[::1]:29500"
    assert node0.section(TrainingConfig) == node1.section(TrainingConfig)
    assert node0.section(TrainingConfig) != FinetuneConfig().section(TrainingConfig)  # a new world size trains anew


def test_a_joining_node_needs_the_tokenized_data_at_the_same_path(tmp_path):
    training = TrainingConfig(num_nodes=2)
    model = resolve_model(ModelConfig())
    with pytest.raises(PipelineError, match="node 1 cannot read the tokenized data"):
        join_training.fn(str(tmp_path / "missing"), model, training, "ner", 1, "127.0.0.1:29500")
    with pytest.raises(PipelineError, match="node 0 trains in the train step"):
        join_training.fn(str(tmp_path), model, training, "ner", 0, "127.0.0.1:29500")


# The options of the runs below, as a node's command line gives them.
OPTIONS = [
    "--max-eval-samples",
    "8",
    "--engine",
    "accelerate",
    "--epochs",
    "1",
    "--evals-per-epoch",
    "2",
    "--batch-size",
    "8",
    "--eval-batch-size",
    "8",
    "--learning-rate",
    "3e-3",
]


@pytest.fixture(scope="module")
def tokenized(prefect_server, s3_server, tiny_model, conll_sample):
    """The data tokenized by node 0 into a bucket, the only storage the nodes share."""
    import fsspec

    bucket = f"nodes-{uuid.uuid4().hex[:8]}"
    fsspec.filesystem("s3").mkdir(bucket)
    config = parse_command_line(["--model", str(tiny_model), "--dataset", str(conll_sample), *OPTIONS])[0]
    store = ArtifactStore(root=f"s3://{bucket}/artifacts")
    data, model = config.section(DataConfig), resolve_model(config.section(ModelConfig))
    loaded = load(resolve_dataset(data), data, "ner", store=store)
    tokenized = tokenize(loaded.path, model, config.section(TokenizationConfig), "ner", store=store)
    return config, store, model, tokenized.path


def without_timings(history: list[dict]) -> list[dict]:
    timed = ("_runtime", "_per_second", "elapsed_seconds")
    return [{name: value for name, value in entry.items() if not name.endswith(timed)} for entry in history]


def start_node(
    rank: int, endpoint: str, config: FinetuneConfig, root: str, staging: Path, log: Path
) -> subprocess.Popen:
    """``python -m flows.finetune`` as node ``rank`` of two, on a machine of its own: its own staging directory
    and temporary folder, with only the bucket (and the Prefect server) in common."""
    from prefect.settings import PREFECT_API_URL

    temporary = staging.with_name(f"{staging.name}-tmp")
    temporary.mkdir()
    env = {
        **os.environ,
        "PREFECT_API_URL": PREFECT_API_URL.value(),
        "FINETUNE_STAGING_DIR": str(staging),
        "TMPDIR": str(temporary),
        "OMP_NUM_THREADS": "1",
    }
    command = [
        sys.executable,
        "-m",
        "flows.finetune",
        "--model",
        config.model,
        "--dataset",
        str(config.dataset),
        *OPTIONS,
        "--artifacts-dir",
        root,
        "--num-nodes",
        "2",
        "--node-rank",
        str(rank),
        "--rdzv-endpoint",
        endpoint,
    ]
    return subprocess.Popen(command, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


@pytest.mark.slow
def test_two_nodes_of_one_process_train_as_one_node_of_two(tokenized, tmp_path, monkeypatch):
    from safetensors.torch import load_file

    config, store, model, tokenized_dir = tokenized
    # torchrun sets this itself for two processes on one node, not for one on each of two nodes; with two
    # threads each the sums round differently and the weights are not equal.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    training = training_of(config, model)  # as both nodes' flows fill auto in (warm-up here)
    one_node = train(
        tokenized_dir, model, training.model_copy(update={"num_processes": 2}), "ner", Launch(), store=store
    )
    endpoint = f"127.0.0.1:{free_port()}"
    node1 = start_node(1, endpoint, config, store.root, tmp_path / "node-1", tmp_path / "node-1.log")
    two_nodes = training.model_copy(update={"num_nodes": 2})
    node0 = train(tokenized_dir, model, two_nodes, "ner", Launch(rdzv_endpoint=endpoint), store=store)
    assert node1.wait(timeout=120) == 0, (tmp_path / "node-1.log").read_text()
    assert "Node 1 of 2: trained with node 0" in (tmp_path / "node-1.log").read_text()
    staged = [path.parent.name for path in (tmp_path / "node-1").glob("*/*") if is_complete(path)]
    assert staged == ["tokenized"], "node 1 read the tokenized data from the bucket, and wrote no model"
    assert one_node.path != node0.path
    expected, trained = local_dir(one_node.path), local_dir(node0.path)
    weights, reference = load_file(trained / "model.safetensors"), load_file(expected / "model.safetensors")
    assert weights.keys() == reference.keys() and all(weights[name].equal(reference[name]) for name in weights)
    history = json.loads((trained / TRAIN_HISTORY).read_text())
    assert without_timings(history) == without_timings(json.loads((expected / TRAIN_HISTORY).read_text()))
    # 48 sentences, 8 a process and 2 processes: 3 steps. The best evaluation is not the last, so the main
    # process reloads the best weights, which node 1 never had.
    assert [entry["step"] for entry in history if "eval_f1" in entry] == [2, 3]
    facts = json.loads((trained / TRAIN_SUMMARY).read_text())
    assert (facts["processes"], facts["best_step"]) == (2, 2)
    assert not list((store.local_root() / "checkpoints").glob("*"))

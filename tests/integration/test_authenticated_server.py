"""A Prefect server protected by PREFECT_SERVER_API_AUTH_STRING, as a team runs one on a shared machine:
deploy.sh, a worker and the command line work with the client's PREFECT_API_AUTH_STRING, and a client
without it is refused in one line naming the setting."""

import sys

import pytest

from conftest import conll_sentences
from prefect_server import PrefectServer

pytestmark = pytest.mark.slow

AUTH = "team:correct-horse-battery-staple"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with PrefectServer(tmp_path_factory.mktemp("authenticated"), auth=AUTH) as server:
        yield server


@pytest.fixture(scope="module")
def ner_model(tmp_path_factory):
    """The tiny BERT with a token-classification head for CoNLL-2003's labels, as a release holds it."""
    from transformers import AutoTokenizer, BertConfig, BertForTokenClassification

    from conftest import build_tiny_model

    folder = build_tiny_model(tmp_path_factory.mktemp("ner_model"))
    labels = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
    config = BertConfig.from_pretrained(
        folder, id2label=dict(enumerate(labels)), label2id={label: i for i, label in enumerate(labels)}
    )
    BertForTokenClassification(config).save_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    tokenizer.model_max_length = 128
    tokenizer.save_pretrained(folder)
    return folder


def predict_command(model, data, artifacts) -> list[str]:
    return [
        sys.executable,
        "-m",
        "flows.predict",
        "--model",
        str(model),
        "--input",
        str(data),
        "--artifacts-dir",
        str(artifacts),
    ]


def test_a_client_without_the_auth_string_is_refused_in_one_line(server, ner_model, conll_sample, tmp_path):
    refused = server.run(
        *predict_command(ner_model, conll_sample / "test.txt", tmp_path), env={"PREFECT_API_AUTH_STRING": ""}
    )
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.strip().splitlines() == [
        f"error: the Prefect server at {server.api_url} refused this client (HTTP 401): it is protected by "
        "PREFECT_SERVER_API_AUTH_STRING; set PREFECT_API_AUTH_STRING to the same user:password"
    ]
    wrong = server.run(
        *predict_command(ner_model, conll_sample / "test.txt", tmp_path), env={"PREFECT_API_AUTH_STRING": "team:guess"}
    )
    assert wrong.returncode == 2 and "refused this client (HTTP 401)" in wrong.stderr
    assert AUTH not in refused.stderr + refused.stdout + wrong.stderr + wrong.stdout
    assert not (tmp_path / "prediction").exists()


def test_deploy_a_worker_and_the_command_line_work_with_the_auth_string(server, ner_model, conll_sample, tmp_path):
    deployed = server.run("deployments/deploy.sh")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    server.start_worker("gpu", "worker-gpu-authenticated")
    config = {
        "model": str(ner_model),
        "input": str(conll_sample / "test.txt"),
        "artifacts_dir": str(tmp_path / "deployed"),
    }
    server.run_deployment("predict/predict", config, 120)
    [output] = list((tmp_path / "deployed" / "prediction").glob("[!.]*"))
    assert (output / "entities.jsonl").read_text().count("\n") == len(conll_sentences(conll_sample / "test.txt", 100))
    ran = server.run(*predict_command(ner_model, conll_sample / "test.txt", tmp_path / "cli"))
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert "Steps:    read" in ran.stdout

"""Bad input ends with one clear message naming the problem, and leaves earlier artifacts intact."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, damaged_weights, token_classifier
from flows.finetune import finetune
from tasks.config.finetune import FinetuneConfig
from tasks.engines.common import check_label_ids
from tasks.errors import PipelineError

pytestmark = pytest.mark.slow


def write_jsonl(path: Path, rows: list[dict]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path.parent)


def slow_tokenizer_model(folder: Path, tiny_model: Path) -> str:
    import shutil

    from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy

    shutil.copytree(tiny_model, folder)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (folder / name).unlink()
    vocab = folder.parent / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a"]))
    BertTokenizerLegacy(vocab_file=str(vocab)).save_pretrained(folder)
    return str(folder)


def weightless_model(folder: Path, tiny_model: Path) -> str:
    folder.mkdir()
    (folder / "config.json").write_text((tiny_model / "config.json").read_text())
    return str(folder)


GOOD_ROW = {"tokens": ["Ann", "lives", "in", "Paris"], "ner_tags": ["B-PER", "O", "O", "B-LOC"]}


def missing_column(tmp: Path, model: Path) -> dict:
    return {"dataset": write_jsonl(tmp / "d" / "train.jsonl", [{"words": ["a"], "ner_tags": ["O"]}])}


def lengths_differ(tmp: Path, model: Path) -> dict:
    return {"dataset": write_jsonl(tmp / "d" / "train.jsonl", [GOOD_ROW, {"tokens": ["a", "b"], "ner_tags": ["O"]}])}


def empty_split(tmp: Path, model: Path) -> dict:
    dataset = write_jsonl(tmp / "d" / "train.jsonl", [GOOD_ROW])
    (tmp / "d" / "validation.jsonl").write_text("")
    return {"dataset": dataset}


def unknown_tag(tmp: Path, model: Path) -> dict:
    write_jsonl(tmp / "d" / "test.jsonl", [{"tokens": ["x"], "ner_tags": ["B-CITY"]}])
    return {"dataset": write_jsonl(tmp / "d" / "train.jsonl", [GOOD_ROW])}


def classification_without_label(tmp: Path, model: Path) -> dict:
    dataset = write_jsonl(tmp / "d" / "train.jsonl", [{"text": "fine", "stars": 5}])
    return {"task": "sequence-classification", "dataset": dataset}


def classification_label_unseen_in_training(tmp: Path, model: Path) -> dict:
    write_jsonl(tmp / "d" / "validation.jsonl", [{"text": "so so", "label": "neutral"}])
    dataset = write_jsonl(
        tmp / "d" / "train.jsonl", [{"text": "fine", "label": "pos"}, {"text": "bad", "label": "neg"}]
    )
    return {"task": "sequence-classification", "dataset": dataset}


def write_bytes(path: Path, content: bytes) -> str:
    path.write_bytes(content)
    return str(path)


LATIN_1_CONLL = "Ann B-PER\nM\u00fcller B-PER\n".encode("latin-1")
# The short lines' last column is a chunk tag: read as the NER tag, it would make VP an entity type.
MIXED_COLUMNS_CONLL = b"Ann NNP B-NP B-PER\nsings VBZ B-VP O\n\nHe PRP B-NP\nsaw VBD B-VP\n"


CASES = {
    "missing dataset file": (
        lambda tmp, model: {"dataset": "data/nowhere.txt"},
        "dataset file not found: data/nowhere.txt",
    ),
    "missing column": (missing_column, "column 'tokens' not found in split 'train'; columns found: words, ner_tags"),
    "tokens and tags differ in length": (lengths_differ, "split 'train' row 1: 2 tokens but 1 tags in 'ner_tags'"),
    "empty split": (empty_split, "split 'validation' is empty"),
    "tag not in the label list": (unknown_tag, "split 'test' row 0: tag 'B-CITY' is not in the label list"),
    "slow tokenizer": (
        lambda tmp, model: {"model": slow_tokenizer_model(tmp / "slow", model)},
        "is not a fast tokenizer",
    ),
    "classification: missing label column": (
        classification_without_label,
        "column 'label' not found in split 'train'; columns found: text, stars",
    ),
    "classification: label unseen in training": (
        classification_label_unseen_in_training,
        "split 'validation' row 0: label 'neutral' does not occur in training",
    ),
    "CoNLL file not in UTF-8": (
        lambda tmp, model: {"dataset": write_bytes(tmp / "train.txt", LATIN_1_CONLL)},
        r"train.txt line 2: byte 0xfc is not valid UTF-8; save the file as UTF-8 or pass --encoding "
        r"\(for example latin-1\)",
    ),
    "CoNLL lines with different column counts": (
        lambda tmp, model: {"dataset": write_bytes(tmp / "train.txt", MIXED_COLUMNS_CONLL)},
        r"train.txt line 4: 3 columns, but line 1 has 4; every line of a CoNLL file needs the same columns "
        r"\(word first, tag last\)",
    ),
    "class weight for a label the data lacks": (
        lambda tmp, model: {"class_weights": {"O": 0.5, "B-CITY": 2.0}},
        r"^class_weights names label 'B-CITY', which the data lacks; its labels are O, B-LOC, I-LOC, B-MISC, I-MISC, "
        r"B-ORG, I-ORG, B-PER, I-PER$",
    ),
    "model directory without weights": (
        lambda tmp, model: {"model": weightless_model(tmp / "weightless", model)},
        "has no weights: expected one of model.safetensors",
    ),
}


@pytest.fixture(scope="module")
def finished(prefect_server, tiny_model, conll_sample, tmp_path_factory):
    config = FinetuneConfig(
        model=str(tiny_model),
        dataset=str(conll_sample),
        artifacts_dir=tmp_path_factory.mktemp("artifacts"),
        max_train_samples=None,
        batch_size=8,
    )
    finetune(config)
    return config


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every artifact file with its size and time; lock files, which a run leaves empty beside what it builds, aside."""
    files = [p for p in root.rglob("*") if p.is_file() and p.suffix != ".lock"]
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in files}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_named_and_earlier_artifacts_survive(case, finished, tiny_model, tmp_path):
    make_overrides, message = CASES[case]
    before = snapshot(finished.artifacts_dir)
    with pytest.raises(PipelineError, match=message):
        finetune(finished.model_copy(update=make_overrides(tmp_path, tiny_model)))
    assert snapshot(finished.artifacts_dir) == before
    assert not [p for p in finished.artifacts_dir.rglob("*partial*")]


def test_unwritable_artifacts_directory(finished, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(PipelineError, match=f"artifacts directory {blocker}/artifacts is not writable"):
        finetune(finished.model_copy(update={"artifacts_dir": blocker / "artifacts"}))


def test_label_id_beyond_the_model_names_the_label():
    import datasets

    rows = datasets.DatasetDict({"train": datasets.Dataset.from_dict({"labels": [[-100, 0, 1], [0, 3, -100]]})})
    check_label_ids(rows, ["O", "B-PER", "I-PER", "B-LOC"], 4)
    with pytest.raises(
        PipelineError, match=r"split 'train' row 1: label id 3 \(B-LOC\) is outside the model's 3 labels"
    ):
        check_label_ids(rows, ["O", "B-PER", "I-PER", "B-LOC"], 3)


def server_url() -> str:
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value() or ""


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PREFECT_API_URL": server_url()}
    return subprocess.run(
        [sys.executable, "-m", "flows.finetune", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )


def test_cli_reports_a_user_error_in_one_line_without_traceback(prefect_server, tmp_path):
    result = run_cli("--dataset", "data/nowhere.txt", "--artifacts-dir", str(tmp_path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stderr.strip().splitlines()[-1] == "error: dataset file not found: data/nowhere.txt"


def test_cli_names_an_undecodable_byte_in_one_line(prefect_server, tmp_path):
    dataset = write_bytes(tmp_path / "train.txt", LATIN_1_CONLL)
    result = run_cli("--dataset", dataset, "--artifacts-dir", str(tmp_path / "artifacts"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: {dataset} line 2: byte 0xfc is not valid UTF-8; "
        "save the file as UTF-8 or pass --encoding (for example latin-1)"
    )


def test_cli_rejects_an_invalid_option_before_running(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "flows.finetune", "--learning-rate", "0"], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == "error: invalid configuration (command line): learning_rate: Input should be greater than 0"
    )


def test_cli_refuses_a_metric_naming_a_label_the_data_lacks_before_tokenizing(prefect_server, tiny_model, tmp_path):
    dataset = write_jsonl(
        tmp_path / "d" / "train.jsonl", [{"text": "fine", "label": "legit"}, {"text": "odd", "label": "alert"}]
    )
    artifacts = tmp_path / "artifacts"
    result = run_cli(
        "--task",
        "sequence-classification",
        "--dataset",
        dataset,
        "--model",
        str(tiny_model),
        "--metric",
        "f1:fraud",
        "--artifacts-dir",
        str(artifacts),
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stderr.strip().splitlines()[-1] == (
        "error: --metric f1:fraud names the label 'fraud', which the data lacks; its labels are alert, legit"
    )
    assert (artifacts / "dataset").is_dir() and not (artifacts / "tokenized").exists()


def test_cli_refuses_a_metric_of_another_task_in_one_line():
    result = subprocess.run(
        [sys.executable, "-m", "flows.finetune", "--metric", "accuracy"], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: invalid configuration (command line): metric: 'accuracy' is not a metric of ner: use one of f1, strict_f1"
    )


def test_cli_names_a_prefect_server_it_cannot_reach(tmp_path):
    unreachable = "http://127.0.0.1:9/api"  # the discard port: nothing listens there
    result = subprocess.run(
        [sys.executable, "-m", "flows.finetune", "--artifacts-dir", str(tmp_path)],
        cwd=REPO,
        env={**os.environ, "PREFECT_API_URL": unreachable},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith(f"error: cannot reach the Prefect server at {unreachable} (PREFECT_API_URL): ")
    )
    assert list(tmp_path.iterdir()) == []


def test_push_without_a_token_fails_before_any_step(finished, tmp_path, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with pytest.raises(PipelineError, match="--hub-model-id me/model needs a Hub token: set HF_TOKEN"):
        finetune(finished.model_copy(update={"hub_model_id": "me/model", "artifacts_dir": tmp_path}))
    assert list(tmp_path.iterdir()) == []


def test_a_deployment_whose_work_pool_was_deleted_is_named(prefect_server, tiny_model):
    from prefect import get_client
    from prefect.client.schemas.actions import WorkPoolCreate

    from flows.train import FLOW_NAME, TrainEvaluateRequest, run_on_deployment
    from tasks.config.sections import TokenizationConfig
    from tasks.config.training import TrainingConfig
    from tasks.pretrained import ModelSource
    from tasks.storage.step import ArtifactStore

    with get_client(sync_client=True) as client:
        client.create_work_pool(WorkPoolCreate(name="spare", type="process"))
        flow_id = client.create_flow_from_name(FLOW_NAME)
        client.create_deployment(
            flow_id, "spare", work_pool_name="spare", entrypoint="flows/train.py:train_and_evaluate"
        )
        client.delete_work_pool("spare")
    request = TrainEvaluateRequest(
        store=ArtifactStore(root=Path("artifacts")),
        dataset_dir="d",
        tokenized_dir="t",
        resume=False,
        model=ModelSource(kind="local", location=str(tiny_model)),
        training=TrainingConfig(),
        tokenization=TokenizationConfig(max_length=32),
        task="ner",
    )
    with pytest.raises(
        PipelineError, match=r"deployment train-evaluate/spare has no work pool on .*\(its pool was deleted\)"
    ):
        run_on_deployment("train-evaluate/spare", request)


def test_a_damaged_model_is_named_in_one_line_by_finetune_and_predict(prefect_server, tiny_model, tmp_path):
    release = damaged_weights(token_classifier(tiny_model, tmp_path / "release"), tmp_path / "damaged", "truncated")
    (tmp_path / "input.txt").write_text("EU rejects German call to boycott British lamb .\n")
    env = {**os.environ, "PREFECT_API_URL": server_url()}
    for command in (
        ["flows.finetune", "--model", str(release)],
        ["flows.predict", "--model", str(release), "--input", str(tmp_path / "input.txt")],
    ):
        result = subprocess.run(
            [sys.executable, "-m", *command, "--artifacts-dir", str(tmp_path / "artifacts")],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 2 and "Traceback" not in result.stderr + result.stdout
        assert re.fullmatch(
            rf"error: the model's weights do not load: {re.escape(str(release))}/model.safetensors: truncated: "
            r"[\d,]+ bytes where its header describes [\d,]+",
            result.stderr.strip().splitlines()[-1],
        )

"""Pushing to the Hub with the real huggingface_hub client against a local stand-in for the Hub."""

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import damaged_weights, token_classifier
from fake_hub import FakeHub
from tasks.errors import PipelineError
from tasks.hub import COMMIT_MESSAGE, push_to_hub

TOKEN = "hf_test_token_0123456789"


@pytest.fixture
def release(tmp_path):
    folder = tmp_path / "release"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "bert"}))
    (folder / "README.md").write_text("---\nlicense: apache-2.0\n---\n# me/model\n")
    (folder / "model.safetensors").write_bytes(b"\0" * 64)
    (folder / ".manifest.json").write_text("{}")
    return folder


@pytest.fixture
def hub(monkeypatch):
    with FakeHub(TOKEN) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        monkeypatch.setenv("HF_TOKEN", TOKEN)
        yield hub


def test_push_creates_the_repo_and_commits_the_release(hub, release):
    pushed = push_to_hub.fn(str(release), "team/minilm-ner", True, None, None)
    assert (pushed.repo_id, pushed.commit) == ("team/minilm-ner", hub.state.commits[0]["oid"])
    assert pushed.commit_url.endswith(f"/team/minilm-ner/commit/{pushed.commit}")
    create = next(r for r in hub.state.requests if r.path == "/api/repos/create")
    assert json.loads(create.body) == {"name": "minilm-ner", "organization": "team", "visibility": "private"}
    [commit] = hub.state.commits
    assert commit["summary"] == COMMIT_MESSAGE and commit["revision"] == "main"
    assert set(commit["files"]) == {"config.json", "README.md", "model.safetensors"}
    assert commit["files"]["model.safetensors"] == b"\0" * 64


def test_push_to_a_branch_creates_it(hub, release):
    push_to_hub.fn(str(release), "minilm-ner", False, "experiments", None)
    assert hub.state.branches == {("me/minilm-ner", "experiments")}
    assert [commit["revision"] for commit in hub.state.commits] == ["experiments"]
    create = next(r for r in hub.state.requests if r.path == "/api/repos/create")
    assert json.loads(create.body)["visibility"] == "public"


def test_the_token_travels_only_in_the_authorization_header(hub, release):
    push_to_hub.fn(str(release), "team/minilm-ner", True, None, None)
    for request in hub.state.requests:
        assert request.headers["authorization"] == f"Bearer {TOKEN}"
        others = {name: value for name, value in request.headers.items() if name != "authorization"}
        assert TOKEN not in json.dumps(others) and TOKEN not in request.path
        assert TOKEN.encode() not in request.body


def test_the_hub_tests_pass_whatever_hugging_face_settings_the_shell_holds():
    """A user's shell offline, on another endpoint, with a token of its own: the suite clears them (conftest)."""
    shell = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_ENDPOINT": "http://127.0.0.1:9",
        "HF_TOKEN": "hf_the_users_own",
    }
    tests = [
        f"{Path(__file__)}::{name}"
        for name in (
            "test_the_token_travels_only_in_the_authorization_header",
            "test_published_card_is_read_fresh_and_none_when_nothing_is_published",
        )
    ]
    ran = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-n", "0", "-p", "no:cacheprovider", *tests],
        env=shell,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ran.returncode == 0 and "2 passed" in ran.stdout, ran.stdout[-3000:]


def test_a_refused_token_is_a_user_error(hub, release, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_wrong")
    with pytest.raises(PipelineError, match=r"the Hub refused the token for team/minilm-ner \(HTTP 401\)"):
        push_to_hub.fn(str(release), "team/minilm-ner", True, None, None)
    assert hub.state.commits == []


def test_published_card_is_read_fresh_and_none_when_nothing_is_published(hub):
    from tasks.hub import published_card

    assert published_card("team/ner", None, None) is None
    hub.state.repos["team/ner"] = {"README.md": b"---\nlicense: mit\n---\nfirst"}
    hub.state.commits.append({"oid": "a" * 40})
    assert published_card("team/ner", None, None).endswith("first")
    hub.state.repos["team/ner"]["README.md"] = b"---\nlicense: mit\n---\nsecond"
    assert published_card("team/ner", None, None).endswith("second")  # same commit id, no stale copy


def test_published_card_is_read_from_the_branch_pushed_to(hub, release):
    from tasks.hub import published_card

    push_to_hub.fn(str(release), "team/ner", True, None, None)
    (release / "README.md").write_text("---\nlicense: mit\n---\non the branch")
    push_to_hub.fn(str(release), "team/ner", True, "experiments", None)
    assert published_card("team/ner", "experiments", None).endswith("on the branch")
    assert published_card("team/ner", None, None).endswith("# me/model\n")
    assert published_card("team/ner", "no-such-branch", None) is None


def test_an_unreachable_hub_stops_the_gate(monkeypatch):
    from huggingface_hub.utils import _http

    from tasks.hub import published_card

    waits = []  # huggingface_hub retries the connection five times, 23 s in all: the test does not wait them out
    monkeypatch.setattr(_http, "time", SimpleNamespace(sleep=waits.append))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    with pytest.raises(PipelineError, match="cannot read the published model card of team/ner from http://127.0.0.1:9"):
        published_card("team/ner", None, None)
    assert len(waits) == 5, "the client retried before giving up"


def test_a_hub_model_with_only_pickle_weights_is_refused_before_any_work(prefect_server, hub, conll_sample, tmp_path):
    """A repo on the Hub stand-in whose weights are pytorch_model.bin alone: the run stops before loading
    anything, naming the option; with the option the model resolves as pickled (loaded with a warning)."""
    from flows.finetune import finetune
    from tasks.config.finetune import FinetuneConfig
    from tasks.config.sections import ModelConfig
    from tasks.pretrained import resolve_model

    config_json = json.dumps({"model_type": "bert", "architectures": ["BertModel"]}).encode()
    hub.state.repos["team/pickled"] = {"config.json": config_json, "pytorch_model.bin": b"\x80\x02}q\x00."}
    hub.state.repos["team/safe"] = {"config.json": config_json, "model.safetensors": b"\0" * 64}
    config = FinetuneConfig(model="team/pickled", dataset=str(conll_sample), artifacts_dir=tmp_path)
    with pytest.raises(PipelineError, match=r"team/pickled has its weights only as a pickle .*--allow-pickle-weights"):
        finetune(config)
    assert not (tmp_path / "dataset").exists()
    assert resolve_model(ModelConfig(model="team/pickled", allow_pickle_weights=True)).pickle_weights
    assert not resolve_model(ModelConfig(model="team/safe")).pickle_weights


def test_server_errors_are_retried(prefect_server, hub, release):
    hub.state.failures = {r"^/api/repos/create$": 1, r"/commit/": 1}
    pushed = push_to_hub(str(release), "team/minilm-ner", True, None, None)
    assert [r.path for r in hub.state.requests].count("/api/repos/create") == 2
    assert len(hub.state.commits) == 1 and pushed.commit == hub.state.commits[0]["oid"]


def labelled_model(target: Path, head: str, labels: list[str]) -> Path:
    """The tiny BERT with a token- or sequence-classification ``head`` predicting ``labels``, saved as training does."""
    from transformers import BertConfig, BertForSequenceClassification, BertForTokenClassification

    from conftest import build_tiny_model

    build_tiny_model(target)
    label2id = {label: i for i, label in enumerate(labels)}
    config = BertConfig.from_pretrained(target, id2label=dict(enumerate(labels)), label2id=label2id)
    model_class = BertForTokenClassification if head == "token" else BertForSequenceClassification
    model_class(config).save_pretrained(target)
    return target


@pytest.fixture(scope="module")
def ner_model(tmp_path_factory) -> Path:
    # No "O" label: every word is then part of an entity, so the check always names some.
    return labelled_model(tmp_path_factory.mktemp("ner_model"), "token", ["B-ZEBRA", "I-ZEBRA", "B-YAK", "I-YAK"])


@pytest.fixture(scope="module")
def pair_model(tmp_path_factory) -> Path:
    return labelled_model(tmp_path_factory.mktemp("pair_model"), "sequence", ["gnu", "okapi"])


SENTENCE = "My name is Sylvain and I work at Hugging Face in Brooklyn."


def test_the_published_model_is_downloaded_by_repo_id_and_checked(hub, ner_model):
    from tasks.steps.check import check_published, run_check

    push_to_hub.fn(str(ner_model), "team/ner", True, None, None)
    hub.state.requests.clear()
    result = check_published("team/ner", None, "ner", SENTENCE, None, None)
    # The same scores as the model on disk: the same weights, read back from the Hub.
    local = run_check(str(ner_model), "ner", SENTENCE, None)
    assert result == {"repo_id": "team/ner", "revision": None, "commit": hub.state.commits[0]["oid"], **local}
    assert result["entities"] and {e["entity_group"] for e in result["entities"]} <= {"ZEBRA", "YAK"}
    downloads = [r.path for r in hub.state.requests if r.method == "GET" and "/resolve/" in r.path]
    downloaded = {path.split("/", 5)[5] for path in downloads}  # /team/ner/resolve/<commit>/<file>
    assert downloaded == set(hub.state.commits[0]["files"]) >= {"model.safetensors", "config.json", "tokenizer.json"}
    assert {r.headers["authorization"] for r in hub.state.requests} == {f"Bearer {TOKEN}"}
    assert TOKEN not in json.dumps(result)


def test_the_published_check_reads_the_branch_pushed_to(hub, ner_model, pair_model):
    from tasks.steps.check import check_published

    push_to_hub.fn(str(ner_model), "team/model", True, None, None)
    push_to_hub.fn(str(pair_model), "team/model", True, "experiments", None)
    branch = check_published("team/model", "experiments", "sequence-classification", SENTENCE, "I live in Paris.", None)
    assert branch["revision"] == "experiments" and branch["commit"] == hub.state.commits[1]["oid"]
    assert branch["text_pair"] == "I live in Paris." and branch["prediction"]["label"] in {"gnu", "okapi"}
    main = check_published("team/model", None, "ner", SENTENCE, None, None)
    assert main["commit"] == hub.state.commits[0]["oid"]
    assert main["entities"] and {e["entity_group"] for e in main["entities"]} <= {"ZEBRA", "YAK"}


@pytest.mark.parametrize(
    ("repo_id", "revision", "message"),
    [
        ("team/never-pushed", None, r"cannot download team/never-pushed from http://127\.0\.0\.1:\d+: no such repo"),
        ("team/ner", "no-branch", r"cannot download team/ner at revision no-branch from .*: no such revision"),
    ],
)
def test_a_repo_or_revision_never_pushed_fails_the_published_check(hub, ner_model, repo_id, revision, message):
    from tasks.steps.check import check_published

    push_to_hub.fn(str(ner_model), "team/ner", True, None, None)
    with pytest.raises(PipelineError, match=message):
        check_published(repo_id, revision, "ner", SENTENCE, None, None)


def test_a_private_repo_is_not_found_without_the_token(hub, ner_model, monkeypatch):
    from tasks.steps.check import check_published

    push_to_hub.fn(str(ner_model), "team/ner", True, None, None)
    monkeypatch.delenv("HF_TOKEN")
    with pytest.raises(PipelineError, match="cannot download team/ner from .*: no such repo, or the token cannot"):
        check_published("team/ner", None, "ner", SENTENCE, None, None)


def test_a_published_model_without_weights_fails_the_check(hub, ner_model):
    from tasks.steps.check import check_published

    push_to_hub.fn(str(ner_model), "team/ner", True, None, None)
    del hub.state.repos["team/ner"]["model.safetensors"]
    with pytest.raises(PipelineError, match="the model published at team/ner does not load: Could not load model"):
        check_published("team/ner", None, "ner", SENTENCE, None, None)


def test_an_unreachable_hub_fails_the_published_check(monkeypatch):
    from tasks.steps.check import check_published

    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    with pytest.raises(PipelineError, match="cannot download team/ner from http://127.0.0.1:9: "):
        check_published("team/ner", None, "ner", SENTENCE, None, None)


@pytest.mark.slow
def test_a_failed_push_fails_the_run_and_keeps_the_model(
    prefect_server, hub, tiny_model, conll_sample, tmp_path, monkeypatch
):
    from flows.finetune import finetune
    from tasks.config.finetune import FinetuneConfig

    monkeypatch.setenv("HF_TOKEN", "hf_read_only")
    config = FinetuneConfig(
        model=str(tiny_model),
        dataset=str(conll_sample),
        artifacts_dir=tmp_path,
        batch_size=8,
        hub_model_id="team/ner",
        min_score=0.0,
    )
    with pytest.raises(
        PipelineError, match=r"push to team/ner failed: the Hub refused the token .* the model is saved in"
    ):
        finetune(config)
    [release] = [path for path in (tmp_path / "release").iterdir() if not path.name.startswith(".")]
    assert (release / "model.safetensors").is_file() and (release / "README.md").is_file()
    assert hub.state.commits == []
    written = [p for p in Path(tmp_path).rglob("*") if p.suffix in (".json", ".md", ".txt", ".csv")]
    assert written and not [p for p in written if "hf_read_only" in p.read_text()]


@pytest.mark.parametrize("fault", ["refused", "bad token"])
def test_a_failed_push_leaves_the_token_in_no_log_message_or_artifact(prefect_server, hub, release, fault, monkeypatch):
    """A push the Hub refuses (403), and one with a token it does not know (401): the token is in neither
    the run's logs, the error, nor any file of the release."""
    from prefect import flow

    from conftest import flow_run_logs
    from flows.publish import push
    from tasks.config.finetune import FinetuneConfig
    from tasks.scores.quality_gate import Decision, Score

    token = "hf_RECOGNISABLE_secret_4242" if fault == "bad token" else TOKEN
    monkeypatch.setenv("HF_TOKEN", token)
    hub.state.refusals = {r"/commit/": 403} if fault == "refused" else {}
    score = Score(dataset="conll", fingerprint="f", split="test", metric="f1", value=0.5)
    decision = Decision(publish=True, reason="better", challenger=score, champion=None, margin=0.0, floor=0.1)

    @flow
    def push_release() -> None:
        push(FinetuneConfig(hub_model_id="team/ner"), decision, str(release))

    state = push_release(return_state=True)
    with pytest.raises(PipelineError) as failed:
        state.result()
    assert "push to team/ner failed" in str(failed.value) and ("HTTP 403" if fault == "refused" else "HTTP 401") in str(
        failed.value
    )
    logs = flow_run_logs(state.state_details.flow_run_id, "push to team/ner failed")
    assert "push to team/ner failed" in "\n".join(logs)
    for text in [str(failed.value), *logs, *(path.read_text() for path in release.rglob("*") if path.is_file())]:
        assert token not in text and token[3:] not in text


def test_a_hub_that_stops_answering_fails_the_push_in_time_without_the_token(hub, release, monkeypatch):
    """huggingface_hub's client waits for ever by default; the push gives up after FINETUNE_HUB_TIMEOUT."""
    import time

    hub.state.delay_seconds = 3
    monkeypatch.setenv("FINETUNE_HUB_TIMEOUT", "1")
    started = time.perf_counter()
    with pytest.raises(Exception) as failed:
        push_to_hub.fn(str(release), "team/minilm-ner", True, None, None)
    assert time.perf_counter() - started < 3 and "timed out" in str(failed.value).lower()
    assert TOKEN not in str(failed.value) and TOKEN not in repr(failed.value.args)


def test_token_from_a_prefect_secret_block_when_hf_token_is_unset(prefect_server, monkeypatch):
    from prefect.blocks.system import Secret

    from tasks.hub import hub_token

    Secret(value="hf_from_block").save("hub-token-test", overwrite=True)
    monkeypatch.setenv("HF_TOKEN", "hf_from_env")
    assert hub_token("hub-token-test") == "hf_from_env"
    monkeypatch.delenv("HF_TOKEN")
    assert hub_token("hub-token-test") == "hf_from_block"
    assert hub_token(None) is None
    with pytest.raises(PipelineError, match="cannot read the Hub token from Prefect Secret block 'no-such-block'"):
        hub_token("no-such-block")


def champion_card(value: float, fingerprint: str) -> bytes:
    """A published card stating ``value`` on the test split whose content has ``fingerprint``."""
    return (
        "---\nmodel-index:\n- name: team/ner\n  results:\n  - task: {type: token-classification}\n"
        f"    dataset: {{name: conll_sample0, type: conll_sample0, split: test, revision: {fingerprint}}}\n"
        f"    metrics:\n    - {{type: f1, value: {value}}}\n---\n# team/ner\n"
    ).encode()


@pytest.fixture(scope="module")
def local_score(prefect_server, tiny_model, conll_sample, tmp_path_factory):
    """The test score the tiny run reaches, from a run without a Hub repo."""
    from flows.finetune import finetune

    summary = finetune(gate_config(tiny_model, conll_sample, tmp_path_factory.mktemp("local")))
    assert summary.decision.publish and summary.decision.champion is None
    return summary.decision.challenger


def gate_config(model, data, artifacts, **overrides):
    from tasks.config.finetune import FinetuneConfig

    # The tiny model scores under NER's default floor: these runs are about the comparison and the push.
    return FinetuneConfig(
        model=str(model), dataset=str(data), artifacts_dir=artifacts, batch_size=8, min_score=0.0, **overrides
    )


@pytest.mark.slow
@pytest.mark.parametrize(("champion_offset", "pushed"), [(-0.01, True), (0.01, False)])
def test_quality_gate_pushes_only_a_better_model(
    champion_offset, pushed, local_score, hub, tiny_model, conll_sample, tmp_path
):
    from flows.finetune import finetune

    champion = round(local_score.value + champion_offset, 4)
    hub.state.repos["team/ner"] = {"README.md": champion_card(champion, local_score.fingerprint)}
    hub.state.commits.append({"oid": "c" * 40, "files": {}})
    summary = finetune(gate_config(tiny_model, conll_sample, tmp_path, hub_model_id="team/ner"))
    decision = summary.decision
    assert decision.champion.value == champion and decision.challenger == local_score
    assert decision.publish is pushed
    assert (summary.pushed_to is not None) is pushed
    assert len(hub.state.commits) == (2 if pushed else 1)
    card = (Path(summary.model_dir) / "README.md").read_text()
    verdict = "Published" if pushed else "Not published"
    assert f"{verdict} by the quality gate (margin 0.0, floor {decision.floor}): {decision.reason}." in card
    assert f"| previously published | {champion:.4f} |" in card
    if pushed:  # the pushed commit, downloaded by repo id, finds what the saved model found
        check = summary.published_check
        assert (check["repo_id"], check["commit"]) == ("team/ner", hub.state.commits[-1]["oid"])
        assert check["entities"] == summary.check["entities"] and check["text"] == summary.check["text"]
    else:
        assert "does not beat the published" in decision.reason and summary.published_check is None


@pytest.mark.slow
def test_a_damaged_champion_does_not_block_a_sound_model_and_the_gate_says_why(
    local_score, hub, prefect_server, tiny_model, conll_sample, tmp_path
):
    from flows.finetune import finetune
    from tasks.config.sections import DataConfig
    from tasks.data.sources import read_source, resolve_dataset
    from tasks.steps.load import normalize

    data = DataConfig(dataset=str(conll_sample), max_train_samples=None)
    labels = normalize(read_source(resolve_dataset(data), data).splits, resolve_dataset(data), data, "ner")[1]
    champion = damaged_weights(
        token_classifier(tiny_model, tmp_path / "champion", tuple(labels)), tmp_path / "damaged", "truncated"
    )
    # Its card states a score on other data, so the gate downloads it to score it on this run's.
    sha256 = (champion / "README.md").read_text().split("weights_sha256: ")[1].split("\n")[0]
    card = champion_card(0.99, "0" * 16).replace(
        b"---\nmodel-index", f"---\nweights_sha256: {sha256}\nmodel-index".encode()
    )
    hub.state.repos["team/ner"] = {**{path.name: path.read_bytes() for path in champion.iterdir()}, "README.md": card}
    hub.state.commits.append({"oid": "c" * 40, "files": {}})
    summary = finetune(gate_config(tiny_model, conll_sample, tmp_path / "artifacts", hub_model_id="team/ner"))
    decision = summary.decision
    assert decision.publish and summary.pushed_to is not None and decision.champion is None
    assert decision.reason.startswith("the published model cannot be scored because it is damaged (")
    assert "/model.safetensors: truncated: " in decision.reason and decision.reason.endswith(
        "); this model replaces it"
    )

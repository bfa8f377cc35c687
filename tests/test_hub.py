"""Pushing to the Hub with the real huggingface_hub client against a local stand-in for the Hub."""

import json

import pytest

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
    url = push_to_hub.fn(str(release), "team/minilm-ner", True, None, None)
    assert url.endswith(f"/team/minilm-ner/commit/{hub.state.commits[0]['oid']}")
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


def test_a_refused_token_is_a_user_error(hub, release, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_wrong")
    with pytest.raises(PipelineError, match=r"the Hub refused the token for team/minilm-ner \(HTTP 401\)"):
        push_to_hub.fn(str(release), "team/minilm-ner", True, None, None)
    assert hub.state.commits == []


def test_server_errors_are_retried(prefect_server, hub, release):
    hub.state.failures = {r"^/api/repos/create$": 1, r"/commit/": 1}
    url = push_to_hub(str(release), "team/minilm-ner", True, None, None)
    assert [r.path for r in hub.state.requests].count("/api/repos/create") == 2
    assert len(hub.state.commits) == 1 and url.endswith(hub.state.commits[0]["oid"])


@pytest.mark.slow
def test_a_failed_push_fails_the_run_and_keeps_the_model(prefect_server, hub, tiny_model, conll_sample, tmp_path, monkeypatch):
    from pathlib import Path

    from flows.finetune import finetune
    from tasks.config import FinetuneConfig

    monkeypatch.setenv("HF_TOKEN", "hf_read_only")
    config = FinetuneConfig(
        model=str(tiny_model), dataset=str(conll_sample), artifacts_dir=tmp_path, batch_size=8, hub_model_id="team/ner"
    )
    with pytest.raises(PipelineError, match=r"push to team/ner failed: the Hub refused the token .* the model is saved in"):
        finetune(config)
    [release] = (tmp_path / "release").iterdir()
    assert (release / "model.safetensors").is_file() and (release / "README.md").is_file()
    assert hub.state.commits == []
    written = [p for p in Path(tmp_path).rglob("*") if p.suffix in (".json", ".md", ".txt", ".csv")]
    assert written and not [p for p in written if "hf_read_only" in p.read_text()]


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

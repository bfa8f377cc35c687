import pytest

from tasks.artifacts import building, content_key, ensure_writable, is_complete
from tasks.config import TrainingConfig
from tasks.errors import PipelineError


def test_content_key_is_stable_and_sensitive():
    assert content_key("a", TrainingConfig()) == content_key("a", TrainingConfig())
    assert content_key("a", TrainingConfig()) != content_key("a", TrainingConfig(learning_rate=1e-3))


def test_building_moves_into_place_with_a_manifest(tmp_path):
    out = tmp_path / "step" / "key"
    with building(out) as partial:
        (partial / "data.txt").write_text("hello")
        assert not out.exists()
    assert (out / "data.txt").read_text() == "hello"
    assert is_complete(out)
    assert [p.name for p in out.parent.iterdir()] == ["key"]


def test_failure_leaves_the_previous_artifact_and_no_partial(tmp_path):
    out = tmp_path / "step" / "key"
    with building(out) as partial:
        (partial / "data.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with building(out) as partial:
            (partial / "data.txt").write_text("new")
            raise RuntimeError("interrupted")
    assert (out / "data.txt").read_text() == "old"
    assert [p.name for p in out.parent.iterdir()] == ["key"]


def test_missing_or_truncated_file_makes_an_artifact_incomplete(tmp_path):
    out = tmp_path / "key"
    with building(out) as partial:
        (partial / "a.txt").write_text("abc")
        (partial / "b.txt").write_text("def")
    (out / "a.txt").write_text("a")
    assert not is_complete(out)
    (out / "a.txt").write_text("abc")
    assert is_complete(out)
    (out / "b.txt").unlink()
    assert not is_complete(out)
    assert not is_complete(tmp_path / "never-built")


def test_unwritable_artifacts_directory_is_named(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(PipelineError, match=f"artifacts directory {blocker}/artifacts is not writable"):
        ensure_writable(blocker / "artifacts")

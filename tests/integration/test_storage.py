"""Artifacts in a bucket, on moto's S3 server on 127.0.0.1: the commit protocol, fetching and the registry."""

import importlib.util
import threading
from pathlib import Path

import pytest

from tasks.errors import PipelineError
from tasks.scores.quality_gate import Decision, Release, Score, record_release, registry_published
from tasks.storage import buckets
from tasks.storage.artifacts import building, is_finished, local_dir, read_artifact, read_artifact_json


def finished_dir(folder: Path, files: dict[str, str]) -> Path:
    """A finished local artifact, written as a step writes one."""
    with building(folder) as partial:
        for name, text in files.items():
            (partial / name).parent.mkdir(parents=True, exist_ok=True)
            (partial / name).write_text(text)
    return folder


def objects(location: str) -> list[str]:
    path = buckets.filesystem(location)[1]
    return [name.removeprefix(path + "/") for name in buckets.listing(location)]


def test_a_committed_artifact_is_its_files_under_one_writer_and_the_commit_record(bucket, staging):
    location = f"{bucket}/tokenized/abc"
    local = finished_dir(staging / "tokenized" / "abc", {"a.txt": "one", "sub/b.txt": "two!"})
    writer = buckets.commit(local, location)
    assert objects(location) == sorted(["commit.json", f"{writer}/a.txt", f"{writer}/sub/b.txt"])
    record = buckets.committed(location)
    assert record["writer"] == writer and record["files"] == {"a.txt": 3, "sub/b.txt": 4}
    assert is_finished(location) and not is_finished(f"{bucket}/tokenized/other")


def test_an_upload_interrupted_before_the_commit_record_is_not_a_cache_hit(bucket, staging, monkeypatch):
    location = f"{bucket}/model/abc"
    local = finished_dir(staging / "model" / "abc", {"weights.bin": "x" * 1000})

    def lost_connection(*args, **kwargs):
        raise ConnectionError("connection lost while writing the commit record")

    with monkeypatch.context() as patched:
        for method in ("pipe_file", "rm"):  # the store is gone: the files cannot be taken back either
            patched.setattr(buckets.filesystem(location)[0], method, lost_connection)  # fsspec caches the instance
        with pytest.raises(PipelineError, match=f"writing the commit record of {location} failed: connection lost"):
            buckets.commit(local, location)
    [uploaded] = objects(location)  # the files went up; the commit record did not
    assert uploaded.endswith("/weights.bin")
    assert buckets.committed(location) is None and not is_finished(location)
    with pytest.raises(PipelineError, match="not a committed artifact"):
        local_dir(location)
    writer = buckets.commit(local, location)  # the next run's build commits
    assert buckets.committed(location)["writer"] == writer


def test_two_writers_of_one_key_end_with_one_complete_artifact(bucket, staging):
    location = f"{bucket}/model/abc"
    builds = [
        finished_dir(staging / f"build-{n}", {"weights.bin": f"writer {n} " * 100, "config.json": "{}"})
        for n in range(2)
    ]
    writers, start = [None, None], threading.Barrier(2)

    def write(n: int) -> None:
        start.wait()
        writers[n] = buckets.commit(builds[n], location)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    [winner] = [n for n in range(2) if writers[n]]
    assert writers[1 - winner] is None
    record = buckets.committed(location)
    assert record["writer"] == writers[winner]
    assert objects(location) == sorted(
        ["commit.json", *(f"{writers[winner]}/{name}" for name in ("config.json", "weights.bin"))]
    )
    assert (local_dir(location) / "weights.bin").read_text() == f"writer {winner} " * 100


def test_a_reader_downloads_once_and_again_when_a_refreshed_run_replaced_the_artifact(bucket, staging):
    location = f"{bucket}/dataset/abc"
    buckets.commit(finished_dir(staging / "build", {"data.arrow": "rows" * 500, "summary.json": '{"n": 1}'}), location)
    before = buckets.transferred()["downloaded"]
    copy = local_dir(location)
    assert copy == staging / "dataset" / "abc" and (copy / "data.arrow").read_text() == "rows" * 500
    assert local_dir(location) == copy
    assert buckets.transferred()["downloaded"] - before == 2000 + 8  # fetched once
    first = buckets.committed(location)["writer"]
    rebuilt = finished_dir(staging / "rebuild", {"data.arrow": "new rows", "summary.json": "{}"})
    writer = buckets.commit(rebuilt, location, replace=True)  # a refreshed run, on another machine
    assert objects(location) == sorted(["commit.json", f"{writer}/data.arrow", f"{writer}/summary.json"])
    assert writer != first and (local_dir(location) / "data.arrow").read_text() == "new rows"
    assert (staging / "dataset" / "abc.writer").read_text() == writer


def test_one_file_is_read_without_fetching_the_artifact(bucket, staging):
    location = f"{bucket}/model/abc"
    buckets.commit(
        finished_dir(staging / "build", {"model.bin": "w" * 10_000, "summary.json": '{"f1": 0.5}'}), location
    )
    before = buckets.transferred()["downloaded"]
    assert read_artifact_json(location, "summary.json") == {"f1": 0.5}
    assert buckets.transferred()["downloaded"] - before == len('{"f1": 0.5}')
    assert not (staging / "model" / "abc").exists()
    with pytest.raises(FileNotFoundError):
        read_artifact(location, "missing.json")


def test_the_registry_in_a_bucket_keeps_every_release_and_the_last_published(bucket, staging):
    def release(value: float, publish: bool) -> Release:
        score = Score(dataset="d", fingerprint="f", split="test", metric="f1", value=value)
        decision = Decision(publish=publish, reason="r", challenger=score, champion=None, margin=0.0, floor=0.0)
        return Release(release_dir=f"{bucket}/release/{value}", score=score, decision=decision)

    assert registry_published(bucket, "org/model") is None
    for value, publish in ((0.5, True), (0.7, True), (0.6, False)):
        record_release(bucket, "org/model", release(value, publish))
    record_release(bucket, "other", release(0.9, True))
    assert registry_published(bucket, "org/model").score.value == 0.7
    records = buckets.read_records(f"{bucket}/registry/org%2Fmodel")
    assert [entry["score"]["value"] for entry in records] == [0.5, 0.7, 0.6]


def test_an_unwritable_bucket_is_named(s3_server):
    with pytest.raises(PipelineError, match="s3://no-such-bucket-here/artifacts is not writable"):
        buckets.ensure_writable("s3://no-such-bucket-here/artifacts")


def test_a_missing_backend_or_an_unknown_scheme_is_named():
    if importlib.util.find_spec("gcsfs"):
        pytest.skip("gcsfs is installed here")
    with pytest.raises(PipelineError, match=r"artifacts in gs:// need gcsfs: pip install gcsfs"):
        buckets.filesystem("gs://bucket/prefix")
    with pytest.raises(PipelineError, match="fsspec knows no storage called nosuchscheme://"):
        buckets.filesystem("nosuchscheme://bucket/prefix")

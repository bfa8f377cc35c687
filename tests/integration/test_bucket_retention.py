"""Retention in a bucket (moto's S3 server on 127.0.0.1) and in this machine's staging directory: three
releases of one model, the first published, pruned to the last one besides it; with the files of a writer
that lost a race, of one that died mid-upload, and staged copies current, stale and of another bucket."""

import json
import time
from pathlib import Path

import pytest

from flows.prune import PruneConfig, prune
from tasks.scores.quality_gate import Decision, Release, Score, record_release, registry_published
from tasks.storage import buckets
from tasks.storage.artifacts import building, is_finished, local_dir
from tasks.storage.bucket_retention import plan_bucket_removal
from tasks.storage.catalog import BUILT_FROM

pytestmark = pytest.mark.slow


def commit(staging: Path, location: str, files: dict[str, bytes]) -> str:
    """Commit an artifact of ``files`` at ``location`` as a step does: built on this machine, then uploaded."""
    built = staging / "builds" / location.replace("/", "_")
    with building(built) as partial:
        for name, data in files.items():
            (partial / name).write_bytes(data)
    buckets.commit(built, location)
    return location


def release(bucket: str, staging: Path, key: str, made_from: dict[str, str], publish: bool) -> str:
    files = {"model.safetensors": b"r" * 1000, BUILT_FROM: json.dumps(made_from).encode()}
    location = commit(staging, f"{bucket}/release/{key}", files)
    score = Score(dataset="conll2003", split="test", metric="f1", value=0.5)
    decision = Decision(publish=publish, reason="r", challenger=score, champion=None, margin=0.0, floor=0.0)
    record_release(bucket, "minilm-finetuned-ner", Release(release_dir=location, score=score, decision=decision))
    return location


@pytest.fixture
def season(bucket, staging):
    """The bucket's artifacts and this machine's staged copies, by name."""
    made = {"tokenized": commit(staging, f"{bucket}/tokenized/t1", {"data.arrow": b"t" * 400})}
    for n in (1, 2, 3):
        made[f"model{n}"] = commit(staging, f"{bucket}/model/m{n}", {"model.safetensors": b"m" * 2000})
        inputs = {"tokenized_dir": made["tokenized"], "model_dir": made[f"model{n}"]}
        made[f"release{n}"] = release(bucket, staging, f"r{n}", inputs, publish=n == 1)
    fs, path = buckets.filesystem(bucket)
    fs.pipe_file(f"{path}/model/m3/0123456789ab/model.safetensors", b"x" * 300)  # a writer that lost the race
    fs.pipe_file(f"{path}/model/m4/ba9876543210/model.safetensors", b"y" * 200)  # one that died mid-upload
    for name in ("release2", "tokenized", "model3"):
        local_dir(made[name])
    (staging / "model" / "m3.writer").write_text("0123456789ab")  # its copy is of the writer that lost
    (staging / "model" / "m9").mkdir()  # another bucket's artifact, fetched here
    (staging / "model" / ".m5.partial-0a1b2c3d").mkdir()  # a builder that died
    (staging / "checkpoints" / "m6").mkdir(parents=True)  # a failed run's
    return made


def test_prune_in_a_bucket_keeps_the_kept_releases_and_removes_the_rest_and_what_writers_left(
    prefect_server, bucket, staging, season
):
    fs, path = buckets.filesystem(bucket)
    assert plan_bucket_removal(bucket, keep=1, min_age_seconds=24 * 3600).remove == []
    plan = plan_bucket_removal(bucket, keep=1, min_age_seconds=24 * 3600, now=time.time() + 2 * 24 * 3600)
    assert plan.kept_releases == [season["release1"], season["release3"]]
    why = {removal.path: removal.why for removal in plan.remove}
    assert why == {
        season["release2"]: "no kept release was made from this release artifact",
        season["model2"]: "no kept release was made from this model artifact",
        f"{bucket}/model/m3/0123456789ab": "files of writer 0123456789ab, which no commit record names",
        f"{bucket}/model/m4/ba9876543210": "files of writer ba9876543210, which no commit record names",
        str(staging / "release" / "r2"): f"a staged copy of {season['release2']}, which prune removes",
        str(staging / "model" / "m3"): f"a staged copy of a writer of {season['model3']} that is no longer committed",
        str(
            staging / "model" / ".m5.partial-0a1b2c3d"
        ): "a partial staged model artifact whose builder is gone (key m5)",
        str(staging / "checkpoints" / "m6"): "checkpoints left by a run",
    }
    removed_objects = ("release/r2/", "model/m2/", "model/m3/0123456789ab/", "model/m4/")
    in_bucket = sum(size for name, (size, _) in buckets.objects(bucket).items() if name.startswith(removed_objects))
    on_disk = sum(file.stat().st_size for copy in ("release/r2", "model/m3") for file in (staging / copy).rglob("*"))
    assert in_bucket > 1000 + 2000 + 300 + 200 and plan.freed_bytes == in_bucket + on_disk

    summary = prune(PruneConfig(artifacts_dir=bucket, keep=1, min_age_hours=0, apply=True))
    assert sorted(summary.removed) == sorted(why)
    left = {name.removeprefix(f"{path}/") for name in buckets.listing(bucket)}
    assert not any(name.startswith(("release/r2/", "model/m2/", "model/m4/", "model/m3/0123456789ab")) for name in left)
    for kept in ("release1", "release3", "model1", "model3", "tokenized"):
        assert is_finished(season[kept])
    assert (staging / "tokenized" / "t1").is_dir() and (staging / "model" / "m9").is_dir()
    assert not (staging / "release" / "r2.writer").exists()
    records = buckets.read_records(f"{bucket}/registry/minilm-finetuned-ner")
    assert [record.get("pruned", False) for record in records] == [False, True, False]
    assert registry_published(bucket, "minilm-finetuned-ner").release_dir == season["release1"]


def test_an_artifact_reused_lately_is_not_removed(bucket, staging, season):
    time.sleep(2.5)
    buckets.note_use(season["model2"])  # a run reused it just now
    plan = plan_bucket_removal(bucket, keep=1, min_age_seconds=2)
    assert season["model2"] in plan.young and season["release2"] in [removal.path for removal in plan.remove]

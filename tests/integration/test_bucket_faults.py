"""The whole flow against a bucket behind a proxy that fails requests (`fault_proxy`): transient faults are
retried and the run completes with every artifact committed; a store that keeps failing one operation fails
the step naming it. Either way no commit record names a file that is not there."""

import os
from contextlib import contextmanager
from pathlib import Path

import pytest

from fault_proxy import FaultProxy, Faults
from flows.finetune import finetune
from tasks.config.finetune import FinetuneConfig
from tasks.errors import PipelineError
from tasks.storage import buckets
from tasks.storage.artifacts import is_finished
from tasks.storage.catalog import COMMIT

pytestmark = pytest.mark.slow


@contextmanager
def behind_faults(s3_server: str, faults: Faults, **env: str):
    """Every client of this process reaches the store through a `FaultProxy` while it lasts."""
    import s3fs

    saved = {name: os.environ.get(name) for name in ["AWS_ENDPOINT_URL", *env]}
    with FaultProxy(s3_server, faults) as proxy:
        os.environ.update({"AWS_ENDPOINT_URL": proxy.endpoint, **env})
        s3fs.S3FileSystem.clear_instance_cache()  # fsspec keeps a client per settings, with its endpoint
        try:
            yield proxy
        finally:
            for name, value in saved.items():
                os.environ.pop(name, None) if value is None else os.environ.update({name: value})
            s3fs.S3FileSystem.clear_instance_cache()


def config(tiny_model: Path, conll_sample: Path, bucket: str) -> FinetuneConfig:
    return FinetuneConfig(
        model=str(tiny_model),
        dataset=str(conll_sample),
        artifacts_dir=bucket,
        max_train_samples=None,
        batch_size=8,
        eval_batch_size=16,
        learning_rate=1e-3,
    )


def commit_records_name_only_files_that_are_there(bucket: str) -> list[str]:
    """The artifacts committed in ``bucket``, read past the proxy, each checked file by file."""
    found = buckets.objects(bucket)
    artifacts = sorted(name.removesuffix(f"/{COMMIT}") for name in found if name.endswith(f"/{COMMIT}"))
    for artifact in artifacts:
        record = buckets.committed(buckets.join(bucket, artifact))
        for name, size in record["files"].items():
            assert found.get(f"{artifact}/{record['writer']}/{name}", (None,))[0] == size, f"{artifact}: {name}"
    return artifacts


def test_a_run_against_a_store_that_fails_some_requests_completes_with_every_artifact_committed(
    prefect_server, s3_server, tiny_model, conll_sample, bucket, staging
):
    faults = Faults(unavailable=0.08, reset=0.04, lost=0.04, delay=0.04, delay_seconds=0.3, seed=7)
    with behind_faults(s3_server, faults) as proxy:
        summary = finetune(config(tiny_model, conll_sample, bucket))
    assert all(proxy.done[fault] > 0 for fault in ("unavailable", "reset", "lost", "delay")), proxy.done
    assert summary.decision.publish and all(is_finished(step.path) for step in summary.steps)
    committed = commit_records_name_only_files_that_are_there(bucket)
    assert sorted(step.path.removeprefix(f"{bucket}/") for step in summary.steps) == committed


def test_a_store_that_keeps_failing_an_upload_fails_the_step_naming_it(
    prefect_server, s3_server, tiny_model, conll_sample, bucket, staging
):
    refused = Faults(unavailable=1.0, only=r"^PUT /[^/]+/artifacts/model/")
    with behind_faults(s3_server, refused, FINETUNE_BUCKET_ATTEMPTS="2") as proxy:
        with pytest.raises(
            PipelineError, match=rf"uploading \d+ files to {bucket}/model/\w+ failed: .*reduce your request rate"
        ):
            finetune(config(tiny_model, conll_sample, bucket))
    assert proxy.done["unavailable"] >= 2, "the upload was tried again before the step failed"
    committed = commit_records_name_only_files_that_are_there(bucket)
    assert [artifact.split("/")[0] for artifact in committed] == ["data_report", "dataset", "tokenized"]
    assert not [name for name in buckets.objects(bucket) if name.startswith("model/")], "nothing of the model is left"


def test_a_commit_whose_answer_was_lost_is_ours_when_the_retry_finds_it(s3_server, bucket, staging):
    """The store wrote the commit record, the answer never came back, the client tried again and was told
    the record exists: it is this writer's own, so the artifact is committed, not discarded."""
    from tasks.storage.artifacts import building

    with building(staging / "build") as partial:
        (partial / "model.safetensors").write_bytes(b"w" * 500)
    location = f"{bucket}/model/abc"
    with behind_faults(s3_server, Faults(lost=1.0, only=rf"^PUT .*/model/abc/{COMMIT}", most=1)) as proxy:
        writer = buckets.commit(staging / "build", location)
    assert proxy.done["lost"] == 1 and writer and buckets.committed(location)["writer"] == writer
    assert commit_records_name_only_files_that_are_there(bucket) == ["model/abc"]

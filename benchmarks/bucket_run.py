"""Benchmark the default job with its artifacts in a bucket against the same job on disk.

    python benchmarks/bucket_run.py [--output benchmarks/results/bucket_run.json]

The bucket is moto's S3 server on 127.0.0.1 (the tests' stand-in for S3), so the figures measure
the pipeline's own cost of object storage (staging, uploads, manifests, fetches), not a network.
Each side runs the default job cold (empty artifacts, new Prefect home), then again with every
step cached; the bucket side a third time with its staging directory wiped, as a second machine
would run it. Each run is a fresh `python -m flows.finetune` process. Compare figures from one
run of this script only: machines of one kind differ by up to half in speed.
"""

import argparse
import json
import os
import tempfile
import uuid
from pathlib import Path

from default_run import REPO, timed_run


def start_s3_server() -> str:
    """moto's S3 server on a free port of 127.0.0.1, in a thread of this (otherwise idle) process."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return f"http://{host}:{port}"


def run(artifacts: str, home: Path, summary: Path, staging: Path) -> dict:
    """One timed CLI run, with the bytes it moved to and from the bucket."""
    os.environ["FINETUNE_STAGING_DIR"] = str(staging)
    figures = timed_run(artifacts, home / "hf", home / "prefect-home", summary)
    moved = json.loads(summary.read_text())["transferred_bytes"]
    return {**figures, "uploaded_bytes": moved and moved["uploaded"], "downloaded_bytes": moved and moved["downloaded"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "results" / "bucket_run.json")
    args = parser.parse_args()
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": start_s3_server(),
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    )
    import fsspec

    bucket = f"bench-{uuid.uuid4().hex[:8]}"
    fsspec.filesystem("s3").mkdir(bucket)
    with tempfile.TemporaryDirectory(prefix="finetune-bench-") as scratch:
        scratch = Path(scratch)
        disk, url = str(scratch / "disk" / "artifacts"), f"s3://{bucket}/artifacts"
        figures = {
            "disk_cold": run(disk, scratch / "disk", scratch / "disk-cold.json", scratch / "disk" / "staging"),
            "disk_cached": run(disk, scratch / "disk", scratch / "disk-cached.json", scratch / "disk" / "staging"),
            "bucket_cold": run(url, scratch / "bucket", scratch / "bucket-cold.json", scratch / "staging-1"),
            "bucket_cached": run(url, scratch / "bucket", scratch / "bucket-cached.json", scratch / "staging-1"),
            "bucket_cached_new_staging": run(
                url, scratch / "bucket", scratch / "bucket-new.json", scratch / "staging-2"
            ),
            "cpu_count": os.cpu_count(),
        }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    for name, row in figures.items():
        if isinstance(row, dict):
            cached = sum(step["cached"] for step in row["steps"].values())
            moved = (
                f"up {(row['uploaded_bytes'] or 0) / 1e6:7.1f} MB  down {(row['downloaded_bytes'] or 0) / 1e6:6.1f} MB"
            )
            print(
                f"{name:<26} wall {row['wall_seconds']:6.1f} s  {moved}  {cached}/{len(row['steps'])} steps cached  "
                f"test F1 {row['test_f1']:.4f}"
            )


if __name__ == "__main__":
    main()

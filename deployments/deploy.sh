#!/usr/bin/env bash
# Create the cpu and gpu process work pools and deploy the flows of deployments/prefect.yaml
# to the Prefect server at $PREFECT_API_URL. Safe to run again: pools and deployments are updated.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${PREFECT_API_URL:-}" ]; then
  echo "deploy.sh: set PREFECT_API_URL to your Prefect server's API, e.g. http://127.0.0.1:4200/api" >&2
  exit 2
fi
# One run at a time on the gpu pool per GPU its workers serve (GPU_COUNT, default 1).
prefect work-pool create cpu --type process --overwrite
prefect work-pool create gpu --type process --overwrite
prefect work-pool set-concurrency-limit gpu "${GPU_COUNT:-1}"
prefect --no-prompt deploy --prefect-file deployments/prefect.yaml --all
# A run whose process was lost (its machine, or the server while it trained) is marked Crashed once it
# misses three heartbeats (PREFECT_FLOWS_HEARTBEAT_FREQUENCY, as the workers have it), freeing its slot.
python3 -m flows.unresponsive_runs
# Artifacts in a bucket (FINETUNE_ARTIFACTS_DIR=s3://bucket/prefix): machines share no disk, so the
# runs keep their results in the bucket too, where a finetune run reads its train-evaluate child's.
if [[ "${FINETUNE_ARTIFACTS_DIR:-}" == *://* ]]; then
  python3 -m flows.result_storage "$FINETUNE_ARTIFACTS_DIR"
fi

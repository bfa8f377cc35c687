"""Keep flow results beside the artifacts in a bucket: ``python -m flows.result_storage s3://bucket/prefix``.

A finetune run reads its train-evaluate child's result (the locations of the model and its
evaluation) from the child's result storage. With a worker per machine and no shared disk, that
storage must be the bucket: this saves a Prefect block over ``<prefix>/prefect-results`` and names
it as PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK in the environment of every deployment tagged
``finetune`` (deployments/deploy.sh runs it after deploying).
"""

import sys

from tasks.storage.buckets import filesystem, is_remote, join

RESULTS_BLOCK = "finetune-results"
RESULTS_FOLDER = "prefect-results"
DEPLOYMENT_TAG = "finetune"  # every deployment of deployments/prefect.yaml has it
RESULTS_VARIABLE = "PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK"


def save_results_block(artifacts_dir: str) -> str:
    """Save (or update) the block that stores results under ``<artifacts_dir>/prefect-results``; return its slug."""
    from prefect.filesystems import RemoteFileSystem

    filesystem(artifacts_dir)  # a missing backend is named now, not when the first result is written
    RemoteFileSystem(basepath=join(artifacts_dir, RESULTS_FOLDER)).save(RESULTS_BLOCK, overwrite=True)
    return f"{RemoteFileSystem.get_block_type_slug()}/{RESULTS_BLOCK}"


def use_for_deployments(slug: str) -> list[str]:
    """Set ``slug`` as the result storage of the runs of every ``finetune`` deployment; return their names."""
    from prefect import get_client
    from prefect.client.schemas.actions import DeploymentUpdate
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterTags

    updated = []
    with get_client(sync_client=True) as client:
        tagged = DeploymentFilter(tags=DeploymentFilterTags(all_=[DEPLOYMENT_TAG]))
        for deployment in client.read_deployments(deployment_filter=tagged):
            variables = dict(deployment.job_variables or {})
            variables["env"] = {**variables.get("env", {}), RESULTS_VARIABLE: slug}
            client.update_deployment(deployment.id, DeploymentUpdate(job_variables=variables))
            updated.append(deployment.name)
    return updated


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not is_remote(argv[0]):
        print(
            "usage: python -m flows.result_storage s3://bucket/prefix (the artifacts directory's URL)", file=sys.stderr
        )
        return 2
    slug = save_results_block(argv[0])
    names = use_for_deployments(slug)
    print(
        f"Runs of {', '.join(sorted(names)) or 'no deployment'} keep their results in {slug} ({argv[0]}/{RESULTS_FOLDER})."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""push to hub: the only module that writes to the network."""

import os

from huggingface_hub import HfApi
from prefect import task

from tasks.artifacts import MANIFEST
from tasks.errors import not_a_user_error


def hub_token() -> str | None:
    """The Hub token, from the environment only, so it never becomes a flow parameter."""
    return os.environ.get("HF_TOKEN") or None


@task(retries=3, retry_delay_seconds=[5, 20, 60], retry_condition_fn=not_a_user_error)
def push_to_hub(release_dir: str, repo_id: str, private: bool) -> str:
    """Create the repo if needed and upload the release directory as one commit; returns the commit URL."""
    api = HfApi(token=hub_token())
    api.create_repo(repo_id, private=private, exist_ok=True)
    commit = api.upload_folder(
        repo_id=repo_id,
        folder_path=release_dir,
        commit_message="Upload fine-tuned model from the finetune flow",
        ignore_patterns=[MANIFEST],
    )
    return commit.commit_url

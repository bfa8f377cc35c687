"""push to hub: the only module that writes to the network.

The token is read where it is used, from ``HF_TOKEN`` or a Prefect Secret block, and is
never a task parameter: Prefect records parameters, and the token must not appear anywhere.
"""

import os
import tempfile
from pathlib import Path

from prefect import task
from pydantic import BaseModel

from tasks.errors import PipelineError, not_a_user_error
from tasks.storage.catalog import BUILT_FROM, CARD, MANIFEST

COMMIT_MESSAGE = "Upload fine-tuned model from the finetune flow"


class Pushed(BaseModel):
    repo_id: str  # as the Hub created it: with the token owner's namespace when none was given
    commit: str
    commit_url: str


def hub_token(secret_block: str | None = None) -> str | None:
    """``HF_TOKEN`` from the environment, else the value of the named Prefect Secret block."""
    token = os.environ.get("HF_TOKEN")
    if token or not secret_block:
        return token or None
    from prefect.blocks.system import Secret

    try:
        return Secret.load(secret_block).get() or None
    except ValueError as error:
        raise PipelineError(f"cannot read the Hub token from Prefect Secret block '{secret_block}': {error}") from error


def hub_timeout() -> float:
    """Seconds to wait for the Hub to connect or to answer a read or write: ``FINETUNE_HUB_TIMEOUT``, else 60."""
    return float(os.environ.get("FINETUNE_HUB_TIMEOUT") or 60)


def hub_api(token_secret: str | None):
    """A Hub client with the token, on the endpoint in ``HF_ENDPOINT`` as it is now: huggingface_hub
    fixes its default endpoint when it is imported."""
    from huggingface_hub import HfApi, get_session

    # huggingface_hub's shared HTTP client waits for ever by default: a Hub that stops answering would
    # hang the push, and the run with it.
    get_session().timeout = hub_timeout()
    return HfApi(endpoint=os.environ.get("HF_ENDPOINT") or None, token=hub_token(token_secret))


def published_card(repo_id: str, revision: str | None, token_secret: str | None) -> str | None:
    """The README.md card of the model published at ``repo_id`` (on branch ``revision``, else the
    default branch), or None when there is none yet."""
    from huggingface_hub.errors import (
        EntryNotFoundError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    api = hub_api(token_secret)
    # A fresh cache each time: the gate must compare with what is published now, not a cached copy.
    with tempfile.TemporaryDirectory(prefix="published-card-") as cache:
        try:
            path = api.hf_hub_download(repo_id, CARD, revision=revision, cache_dir=cache)
        except LocalEntryNotFoundError as error:
            # The Hub could not be reached: without the published score there is nothing to compare with.
            raise PipelineError(
                f"cannot read the published model card of {repo_id} from {api.endpoint}: {error}"
            ) from error
        except (RepositoryNotFoundError, RevisionNotFoundError, EntryNotFoundError):
            return None
        except HfHubHTTPError as error:
            user_error = _user_error(error, repo_id)
            if user_error:
                raise user_error from error
            raise
        return Path(path).read_text(encoding="utf-8")


def download_published(repo_id: str, revision: str | None, root: Path, token_secret: str | None) -> Path:
    """The files of the model published at ``repo_id`` (branch ``revision``, else the default branch),
    downloaded once per commit into ``root/<owner>--<name>/<commit>``, to score it on new data."""
    from huggingface_hub.errors import HfHubHTTPError

    api = hub_api(token_secret)
    try:
        commit = api.model_info(repo_id, revision=revision).sha
        target = root / repo_id.replace("/", "--") / commit
        if not (target / "config.json").is_file():
            api.snapshot_download(repo_id, revision=commit, local_dir=target)
    except (HfHubHTTPError, OSError) as error:
        raise PipelineError(f"cannot download the published model {repo_id}: {str(error).splitlines()[0]}") from error
    return target


def _user_error(error, repo_id: str) -> PipelineError | None:
    """The Hub's answer as a user error when retrying cannot help (a 4xx other than 429), else None."""
    status = error.response.status_code if getattr(error, "response", None) is not None else None
    if status is None or status >= 500 or status == 429:
        return None
    reason = getattr(error, "server_message", None) or str(error).splitlines()[0]
    if status in (401, 403):
        return PipelineError(
            f"the Hub refused the token for {repo_id} (HTTP {status}): it needs write access; {reason}"
        )
    return PipelineError(f"push to {repo_id} failed (HTTP {status}): {reason}")


@task(retries=3, retry_delay_seconds=[2, 10, 30], retry_condition_fn=not_a_user_error)
def push_to_hub(
    release_dir: str, repo_id: str, private: bool, revision: str | None, token_secret: str | None
) -> Pushed:
    """Create the repo (and branch) if needed and upload the release directory as one commit.
    Server errors and dropped connections are retried with growing delays."""
    from huggingface_hub.errors import HfHubHTTPError

    api = hub_api(token_secret)
    try:
        # The Hub puts a name without a namespace under the token's user: push to what it created.
        repo_id = api.create_repo(repo_id, private=private, exist_ok=True).repo_id
        if revision:
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        commit = api.upload_folder(
            repo_id=repo_id,
            folder_path=release_dir,
            revision=revision,
            commit_message=COMMIT_MESSAGE,
            ignore_patterns=[MANIFEST, BUILT_FROM],
        )
    except HfHubHTTPError as error:
        user_error = _user_error(error, repo_id)
        if user_error:
            raise user_error from error
        raise
    return Pushed(repo_id=repo_id, commit=commit.oid, commit_url=commit.commit_url)

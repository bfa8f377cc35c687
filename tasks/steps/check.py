"""check: load the saved model the way a user will, and run it on one input; after a push, the
published model again, downloaded by its repo id."""

import tempfile
from pathlib import Path

from tasks.config.sections import TaskName, TokenizationConfig
from tasks.errors import PipelineError, first_line
from tasks.hub import hub_api
from tasks.profiles import profile_of
from tasks.storage.artifacts import building
from tasks.storage.catalog import CHECK
from tasks.storage.files import write_json
from tasks.storage.step import step


def check_inputs(task: TaskName, pair: bool, text: str | None, text_pair: str | None) -> tuple[str, str | None]:
    """The configured check input, or the built-in example for the task (and for pair tasks)."""
    example = profile_of(task).check.example(pair)
    return text or example[0], (text_pair or example[1]) if pair else None


def run_check(
    model_dir: str,
    task: TaskName,
    text: str,
    text_pair: str | None,
    tokenization: TokenizationConfig = TokenizationConfig(),
) -> dict:
    """The check result: what the task's pipeline makes of the check input (entities found, or a label), a
    text longer than the model's max_length read as the evaluation reads it (NER: windows of ``stride``)."""
    return profile_of(task).check.run(model_dir, text, text_pair, tokenization)


@step()
def check(
    model_dir: str, task: TaskName, text: str, text_pair: str | None, tokenization: TokenizationConfig, out_dir: str
) -> str:
    result = run_check(model_dir, task, text, text_pair, tokenization)
    with building(Path(out_dir)) as partial:
        write_json(partial / CHECK, result)
    return out_dir


def check_published(
    repo_id: str,
    revision: str | None,
    task: TaskName,
    text: str,
    text_pair: str | None,
    token_secret: str | None,
    tokenization: TokenizationConfig = TokenizationConfig(),
) -> dict:
    """The check result of the model published at ``repo_id`` (on ``revision``, else the default
    branch), with the repo id, revision and the commit that was downloaded and run."""
    # Downloaded with the push's client rather than loaded by repo id through transformers, which
    # would use the endpoint huggingface_hub fixed when it was imported.
    api = hub_api(token_secret)
    where = f"{repo_id} at revision {revision}" if revision else repo_id
    # A fresh cache: the check must run what is published now, not a copy an earlier load cached.
    with tempfile.TemporaryDirectory(prefix="published-model-") as cache:
        snapshot = _download(api, repo_id, revision, cache, where)
        try:
            result = run_check(snapshot, task, text, text_pair, tokenization)
        except (OSError, ValueError) as error:  # what transformers raises for missing or unreadable files
            raise PipelineError(f"the model published at {where} does not load: {first_line(error)}") from error
    return {"repo_id": repo_id, "revision": revision, "commit": Path(snapshot).name, **result}


def _download(api, repo_id: str, revision: str | None, cache: str, where: str) -> str:
    """Every file of the repo at ``revision``, into ``cache``; returns the snapshot directory."""
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    failed = f"cannot download {where} from {api.endpoint}"
    try:
        return api.snapshot_download(repo_id, revision=revision, cache_dir=cache)
    except RepositoryNotFoundError as error:
        raise PipelineError(f"{failed}: no such repo, or the token cannot read it") from error
    except RevisionNotFoundError as error:
        raise PipelineError(f"{failed}: no such revision") from error
    except OSError as error:  # the Hub could not be reached, or answered with a server error
        raise PipelineError(f"{failed}: {first_line(error)}") from error

"""check: load the saved model the way a user will, and run it on one input; after a push, the
published model again, downloaded by its repo id."""

import tempfile
from pathlib import Path


from tasks.artifacts import building, step, write_json
from tasks.config import TaskName
from tasks.errors import PipelineError
from tasks.hub import hub_api

CHECK = "check.json"
EXAMPLES = {
    "ner": ("My name is Sylvain and I work at Hugging Face in Brooklyn.", None),
    "single": ("A gorgeous, witty film that never stops surprising.", None),
    "pair": (
        "The European Commission said on Thursday it disagreed with German advice to consumers to shun British lamb.",
        "Germany 's representative to the European Union 's veterinary committee said consumers should buy sheepmeat "
        "from countries other than Britain.",
    ),
}


def check_inputs(task: TaskName, pair: bool, text: str | None, text_pair: str | None) -> tuple[str, str | None]:
    """The configured check input, or the built-in example for the task (and for pair tasks)."""
    example = EXAMPLES["ner" if task == "ner" else "pair" if pair else "single"]
    return text or example[0], (text_pair or example[1]) if pair else None


def group_entities(model_dir: str, text: str) -> list[dict]:
    """Entities found in ``text`` by the token-classification pipeline, words grouped into spans."""
    from transformers import pipeline  # heavy: imported where used, so cached runs start fast

    from tasks.hardware import compute_device

    recognizer = pipeline("token-classification", model=model_dir, aggregation_strategy="simple", device=compute_device())
    return [
        {
            "entity_group": entity["entity_group"],
            "word": entity["word"],
            "score": round(float(entity["score"]), 4),
            "start": int(entity["start"]),
            "end": int(entity["end"]),
        }
        for entity in recognizer(text)
    ]


def classify(model_dir: str, text: str, text_pair: str | None) -> dict:
    """The text-classification pipeline's label and score for one text or pair."""
    from transformers import pipeline

    from tasks.hardware import compute_device

    classifier = pipeline("text-classification", model=model_dir, device=compute_device())
    result = classifier({"text": text, "text_pair": text_pair}) if text_pair else classifier(text)[0]
    return {"label": result["label"], "score": round(float(result["score"]), 4)}


def run_check(model_dir: str, task: TaskName, text: str, text_pair: str | None) -> dict:
    """The check result: the entities found in ``text``, or the predicted label of the text (pair)."""
    if task == "ner":
        return {"text": text, "entities": group_entities(model_dir, text)}
    return {"text": text, "text_pair": text_pair, "prediction": classify(model_dir, text, text_pair)}


@step("check")
def check_model(model_dir: str, task: TaskName, text: str, text_pair: str | None, out_dir: str) -> str:
    result = run_check(model_dir, task, text, text_pair)
    with building(Path(out_dir)) as partial:
        write_json(partial / CHECK, result)
    return out_dir


def check_published(
    repo_id: str, revision: str | None, task: TaskName, text: str, text_pair: str | None, token_secret: str | None
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
            result = run_check(snapshot, task, text, text_pair)
        except (OSError, ValueError) as error:  # what transformers raises for missing or unreadable files
            raise PipelineError(f"the model published at {where} does not load: {_first_line(error)}") from error
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
        raise PipelineError(f"{failed}: {_first_line(error)}") from error


def _first_line(error: Exception) -> str:
    return next((line for line in str(error).splitlines() if line.strip()), type(error).__name__)


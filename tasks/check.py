"""check: load the saved model the way a user will, and run it on one input."""

from pathlib import Path

from prefect import task

from tasks.artifacts import OutDirKey, Step, building, write_json
from tasks.config import TaskName

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

    recognizer = pipeline("token-classification", model=model_dir, aggregation_strategy="simple")
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

    classifier = pipeline("text-classification", model=model_dir)
    result = classifier({"text": text, "text_pair": text_pair}) if text_pair else classifier(text)[0]
    return {"label": result["label"], "score": round(float(result["score"]), 4)}


@task(cache_policy=OutDirKey(), persist_result=True, result_serializer="json")
def check_model(model_dir: str, task: TaskName, text: str, text_pair: str | None, out_dir: str) -> str:
    if task == "ner":
        result = {"text": text, "entities": group_entities(model_dir, text)}
    else:
        result = {"text": text, "text_pair": text_pair, "prediction": classify(model_dir, text, text_pair)}
    with building(Path(out_dir)) as partial:
        write_json(partial / CHECK, result)
    return out_dir


CHECK_STEP = Step(check_model, "check", version=1)

"""check: load the saved model the way a user will, and run it on one sentence."""

from pathlib import Path

from prefect import task

from tasks.artifacts import OutDirKey, Step, building, write_json

CHECK = "check.json"


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


@task(cache_policy=OutDirKey(), persist_result=True, result_serializer="json")
def check_model(model_dir: str, text: str, out_dir: str) -> str:
    entities = group_entities(model_dir, text)
    with building(Path(out_dir)) as partial:
        write_json(partial / CHECK, {"text": text, "entities": entities})
    return out_dir


CHECK_STEP = Step(check_model, "check", version=1)

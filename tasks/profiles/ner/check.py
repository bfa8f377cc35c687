"""NER's part of check: the entities the token-classification pipeline finds in a sentence."""

from tasks.config.sections import TokenizationConfig

EXAMPLE = "My name is Sylvain and I work at Hugging Face in Brooklyn."
# A word takes its first sub-word's label, as evaluation scores it ("simple" groups sub-words by their own labels,
# so a word's later piece can become an entity of its own).
AGGREGATION = "first"


def example(pair: bool) -> tuple[str, str | None]:
    return EXAMPLE, None


def group_entities(model_dir: str, text: str, stride: int) -> list[dict]:
    """Entities found in ``text`` by the token-classification pipeline, words grouped into spans; a text
    longer than the tokenizer's length (the training's max_length) is read in windows sharing ``stride`` tokens."""
    from transformers import pipeline  # heavy: imported where used, so cached runs start fast

    from tasks.hardware import compute_device

    recognizer = pipeline(
        "token-classification",
        model=model_dir,
        aggregation_strategy=AGGREGATION,
        stride=stride,
        device=compute_device(),
    )
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


def run(model_dir: str, text: str, text_pair: str | None, tokenization: TokenizationConfig) -> dict:
    return {"text": text, "entities": group_entities(model_dir, text, tokenization.window_stride)}


def describe(result: dict) -> str:
    return ", ".join(f"{e['entity_group']} '{e['word']}' ({e['score']:.2f})" for e in result["entities"]) or "none"

"""Sequence classification's part of check: the label the text-classification pipeline gives a text or pair."""

from tasks.config.sections import TokenizationConfig

EXAMPLE = "A gorgeous, witty film that never stops surprising."
PAIR_EXAMPLE = (
    "The European Commission said on Thursday it disagreed with German advice to consumers to shun British lamb.",
    "Germany 's representative to the European Union 's veterinary committee said consumers should buy sheepmeat "
    "from countries other than Britain.",
)


def classify(model_dir: str, text: str, text_pair: str | None) -> dict:
    """The text-classification pipeline's label and score for one text or pair."""
    from transformers import pipeline

    from tasks.hardware import compute_device

    classifier = pipeline("text-classification", model=model_dir, device=compute_device())
    # Truncated to the tokenizer's length, the training's max_length, as training and evaluation truncate.
    result = (
        classifier({"text": text, "text_pair": text_pair}, truncation=True)
        if text_pair
        else classifier(text, truncation=True)[0]
    )
    return {"label": result["label"], "score": round(float(result["score"]), 4)}


def example(pair: bool) -> tuple[str, str | None]:
    return PAIR_EXAMPLE if pair else (EXAMPLE, None)


def run(model_dir: str, text: str, text_pair: str | None, tokenization: TokenizationConfig) -> dict:
    return {"text": text, "text_pair": text_pair, "prediction": classify(model_dir, text, text_pair)}


def describe(result: dict) -> str:
    return f"{result['prediction']['label']} ({result['prediction']['score']:.2f})"

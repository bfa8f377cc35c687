"""What an NER model's card says."""

from tasks.markdown import table

NAME = "Token Classification"  # the Hub's task name in eval results
WHAT = "A token-classification (named-entity recognition) model"
TAGS = ("ner",)
HOW_SCORED = "Scored per word (first sub-word), with seqeval, which follows conlleval."
UNCASED_COST = "; capitalisation, a strong cue for names, is lost."
# Options only other tasks read: left off the card.
OTHER_TASKS_SETTINGS = frozenset({"text_columns", "label_column"})
# Filled in with the hyper-parameters: a text longer than the model's max_length is read in windows.
PIPELINE_OPTIONS = ', aggregation_strategy="simple", stride={stride}'
LONG_INPUTS = "read in overlapping windows, each word scored once"  # sentences longer than max_length


def purpose(pair: bool) -> str:
    return "Intended for finding the entity types its labels name in text like its training data."


def does(labels: list[str], pair: bool) -> str:
    return f"It tags words with {len(labels)} labels in IOB2 format."


def scheme_line(dataset: dict) -> list[str]:
    """What the card says of the training data's tag scheme (`tasks.tag_schemes`)."""
    scheme = dataset.get("tag_scheme", "IOB2")
    if scheme == "IOB2":
        return ["Tags: IOB2, as the model predicts them.", ""]
    lossy = " (lossless but for neighbouring entities of one type, which IO cannot tell apart)" if scheme == "IO" else ""
    return [f"Tags: {scheme} in the data, converted to IOB2 for training and scoring{lossy}; the evaluation's "
            f"predictions files are written back in {scheme}.", ""]

def detail_tables(split: str, scores: dict) -> list[str]:
    rows = [[kind, row["precision"], row["recall"], row["f1"], row["support"]] for kind, row in scores["per_type"].items()]
    return ["", f"Per entity type, {split}:", "", *table(["Entity", "Precision", "Recall", "F1", "Support"], rows)]


def usage(result: dict) -> tuple[str, list[str]]:
    rows = [[entity["entity_group"], entity["word"], entity["score"]] for entity in result["entities"]]
    return f"classify({result['text']!r})", table(["Entity", "Words", "Score"], rows) if rows else ["(no entities)"]

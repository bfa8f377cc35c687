"""What a sequence-classification model's card says."""

from tasks.reports.markdown import table

NAME = "Text Classification"  # the Hub's task name in eval results
WHAT = "A sequence-classification model"
TAGS = ()
HOW_SCORED = "F1 is the F1 of the second class for two classes (as GLUE reports MRPC), macro-F1 otherwise."
UNCASED_COST = "."
# Options only other tasks read: left off the card.
OTHER_TASKS_SETTINGS = frozenset(
    {"tokens_column", "tags_column", "label_alignment", "stride", "context", "document_column"}
)
PIPELINE_OPTIONS = ""
LONG_INPUTS = "truncated to it"  # texts longer than max_length


def scheme_line(dataset: dict) -> list[str]:
    return []


def _inputs(pair: bool) -> str:
    return "pairs of texts" if pair else "texts"


def purpose(pair: bool) -> str:
    return f"Intended for sorting {_inputs(pair)} into the classes its labels name, for text like its training data."


def does(labels: list[str], pair: bool) -> str:
    return f"It sorts {_inputs(pair)} into {len(labels)} classes: " + ", ".join(f"`{label}`" for label in labels) + "."


def detail_tables(split: str, scores: dict) -> list[str]:
    rows = [
        [label, row["precision"], row["recall"], row["f1"], row["support"]]
        for label, row in scores["per_class"].items()
    ]
    confusion = scores["confusion_matrix"]
    matrix = [
        [f"gold {label}", *counts]
        for label, counts in zip(confusion["labels"], confusion["rows_gold_columns_predicted"])
    ]
    return [
        "",
        f"Per class and confusion matrix, {split}:",
        "",
        *table(["Class", "Precision", "Recall", "F1", "Support"], rows),
        "",
        *table(["", *(f"predicted {label}" for label in confusion["labels"])], matrix),
    ]


def usage(result: dict) -> tuple[str, list[str]]:
    inputs = {"text": result["text"], **({"text_pair": result["text_pair"]} if result.get("text_pair") else {})}
    return f"classify({inputs!r})", table(
        ["Label", "Score"], [[result["prediction"]["label"], result["prediction"]["score"]]]
    )

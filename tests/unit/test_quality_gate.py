"""The quality gate: the decision as a pure function, the published score read from a card,
and whole runs that push a better model and keep a worse one out."""

import json
import multiprocessing

import pytest

from tasks.profiles import profile_of
from tasks.scores.quality_gate import (
    DataCheck,
    Release,
    Score,
    already_published,
    card_label_distribution,
    card_score,
    card_weights_sha256,
    comparable,
    decide,
    record_release,
    registry_published,
)

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


def score(value: float, dataset: str = "conll2003", split: str = "test", fingerprint: str = "f00d") -> Score:
    return Score(dataset=dataset, fingerprint=fingerprint, split=split, metric="f1", value=value)


def test_card_score_reads_the_model_index():
    assert card_score(CARD, "f1") == score(0.8021, fingerprint=None)
    assert card_score(CARD, "recall") is None
    assert card_score("# no metadata\n", "f1") is None
    assert card_score("---\nlicense: mit\n---\n", "f1") is None


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
    assert card_score(card, "f1") is None
    assert card_weights_sha256(card) is None


def test_only_a_score_on_the_same_content_split_and_metric_is_comparable():
    assert comparable(score(0.8), score(0.5))
    # Two different folders both called "data" are different data.
    assert not comparable(
        score(0.8, dataset="data", fingerprint="aaaa"), score(0.5, dataset="data", fingerprint="bbbb")
    )
    assert not comparable(score(0.8, split="validation"), score(0.5))
    assert not comparable(None, score(0.5))


def test_first_model_is_published_when_above_the_floor():
    decision = decide(score(0.5), None, margin=0.01, floor=0.1)
    assert decision.publish and decision.reason == "nothing is published yet"


@pytest.mark.parametrize("value", [0.0, 0.1])
def test_a_model_not_above_the_floor_is_never_published(value):
    decision = decide(score(value), None, margin=0.0, floor=0.1)
    assert not decision.publish
    assert decision.reason == f"f1 on conll2003 test {value:.4f} is not above the floor 0.1000"


def test_better_by_more_than_the_margin_is_published():
    decision = decide(score(0.82), score(0.80), margin=0.01, floor=0.1)
    assert decision.publish
    assert decision.reason == "f1 on conll2003 test 0.8200 beats the published model's 0.8000 by +0.0200 (> 0.01)"


@pytest.mark.parametrize("value", [0.805, 0.80, 0.79])
def test_not_better_by_the_margin_is_kept_out(value):
    decision = decide(score(value), score(0.80), margin=0.01, floor=0.1)
    assert not decision.publish
    assert decision.reason.startswith(
        f"f1 on conll2003 test {value:.4f} does not beat the published model's 0.8000 by more than 0.01"
    )


def test_a_published_model_that_cannot_be_scored_is_kept_unless_forced():
    kept = decide(score(0.9), None, margin=0.0, floor=0.1, unscorable="it does not load")
    assert not kept.publish and "cannot be scored on this data (it does not load)" in kept.reason
    forced = decide(score(0.9), None, margin=0.0, floor=0.1, unscorable="it does not load", force=True)
    assert forced.publish and forced.forced
    assert forced.reason.startswith("published by --force-publish although the published model cannot be scored")


def data(overlap: float, label_shift: float | None = None) -> DataCheck:
    """What a data report of 16 test sentences tells the gate; --max-overlap 1 %, --max-label-shift 0.2."""
    return DataCheck(
        split="test", unit="sentences", overlap=overlap, max_overlap=0.01, label_shift=label_shift, max_label_shift=0.2
    )


LEAK = (
    "12.5 % of the test split's sentences also appear in train (over --max-overlap 1 %): a leaked split's score "
    "says nothing about new data"
)


def test_a_test_split_leaked_from_train_is_refused_first_and_says_why():
    refused = decide(score(0.9), score(0.5), margin=0.0, floor=0.1, data=data(2 / 16))
    assert not refused.publish and refused.reason == LEAK
    assert refused.data.overlap == 2 / 16  # recorded with the decision, as the registry keeps it
    nothing_published = decide(score(0.9), None, margin=0.0, floor=0.1, data=data(2 / 16))
    assert not nothing_published.publish and nothing_published.reason == LEAK
    # Up to --max-overlap is allowed: CoNLL-2003's own test split repeats table headings found in train.
    allowed = decide(score(0.9), None, margin=0.0, floor=0.1, data=data(0.01))
    assert allowed.publish and allowed.reason == "nothing is published yet"


def test_force_publish_publishes_a_leaked_split_saying_so():
    forced = decide(score(0.9), None, margin=0.0, floor=0.1, force=True, data=data(2 / 16))
    assert forced.publish and forced.forced
    assert forced.reason == f"published by --force-publish although {LEAK}"


def test_a_label_shift_is_recorded_and_warned_of_but_never_refuses():
    shifted = decide(score(0.82), score(0.80), margin=0.01, floor=0.1, data=data(0.0, 0.35))
    assert shifted.publish and shifted.data.label_shift == 0.35
    assert shifted.data.shift() == (
        "the training data's label distribution moved from the published model's by 0.35 (total variation distance, "
        "over --max-label-shift 0.2)"
    )
    assert data(0.0, 0.2).shift() is None and data(0.0).shift() is None


def test_card_label_distribution_reads_the_metadata_and_nothing_else():
    card = "---\ntrain_label_distribution: {PER: 0.75, LOC: 0.25}\n---\n# m\n"
    assert card_label_distribution(card) == {"PER": 0.75, "LOC": 0.25}
    for metadata in (
        "train_label_distribution: [0.5, 0.5]",
        "train_label_distribution: {PER: many}",
        "train_label_distribution: {}",
        "license: mit",
    ):
        assert card_label_distribution(f"---\n{metadata}\n---\n# m\n") is None
    assert card_label_distribution("---\ntrain_label_distribution: [unclosed\n---\n") is None


def test_the_registry_records_the_overlap_and_the_label_distribution(tmp_path):
    decision = decide(score(0.9), None, margin=0.0, floor=0.1, force=True, data=data(2 / 16))
    recorded = Release(release_dir="/r", score=score(0.9), decision=decision, label_distribution={"PER": 1.0})
    record_release(tmp_path, "m", recorded)
    assert registry_published(tmp_path, "m") == recorded
    [entry] = json.loads((tmp_path / "registry.json").read_text())["m"]["history"]
    assert entry["decision"]["data"]["overlap"] == 0.125 and entry["label_distribution"] == {"PER": 1.0}


def test_a_model_already_published_is_reported_as_such():
    decision = already_published(score(0.8), margin=0.0, floor=0.1)
    assert not decision.publish and decision.already_published
    assert decision.reason == "this model is already the published one"


def test_chance_score_is_what_one_label_for_everything_scores():
    import datasets

    def chance_score(task, gold, labels, metric="f1"):
        def rows():
            return datasets.Dataset.from_dict({"label": gold})

        return profile_of(task).quality_gate.chance_score(rows, labels, metric)

    assert chance_score("ner", [], ["O", "B-PER", "I-PER"]) == 0.0
    assert chance_score("ner", [], ["O", "B-PER", "I-PER"], "strict_f1") == 0.0
    # Two balanced classes: calling everything the second one has recall 1, precision 1/2.
    assert chance_score("sequence-classification", [0, 1, 0, 1], ["no", "yes"]) == pytest.approx(2 / 3)
    assert chance_score("sequence-classification", [0, 0, 0, 1], ["no", "yes"]) == pytest.approx(0.4)
    # By the metric the run is judged by: the majority's share for accuracy, the named label's F1 at its best.
    assert chance_score("sequence-classification", [0, 0, 0, 1], ["no", "yes"], "accuracy") == pytest.approx(0.75)
    assert chance_score("sequence-classification", [0, 0, 0, 1], ["no", "yes"], "f1:no") == pytest.approx(6 / 7)
    # Macro-F1 of one label for everything: that label's F1 over the two, the other's 0.
    assert chance_score("sequence-classification", [0, 0, 0, 1], ["no", "yes"], "macro_f1") == pytest.approx(3 / 7)


def release(value: float, publish: bool, name: str = "a") -> Release:
    decision = decide(score(value), None, margin=0.0, floor=0.1 if publish else 1.0)
    return Release(release_dir=f"/releases/{name}", score=score(value), weights_sha256=name * 4, decision=decision)


def test_local_registry_keeps_every_decision_and_the_published_release(tmp_path):
    assert registry_published(tmp_path, "minilm-ner") is None
    record_release(tmp_path, "minilm-ner", release(0.8, publish=True, name="a"))
    record_release(tmp_path, "minilm-ner", release(0.5, publish=False, name="b"))
    record_release(tmp_path, "other", release(0.1, publish=False, name="c"))
    assert registry_published(tmp_path, "minilm-ner") == release(0.8, publish=True, name="a")
    assert registry_published(tmp_path, "other") is None
    history = json.loads((tmp_path / "registry.json").read_text())["minilm-ner"]["history"]
    assert [entry["release_dir"] for entry in history] == ["/releases/a", "/releases/b"]
    assert [entry["decision"]["publish"] for entry in history] == [True, False]


def test_a_registry_written_before_decisions_were_recorded_still_names_its_release(tmp_path):
    (tmp_path / "registry.json").write_text(json.dumps({"m": {"score": score(0.8).model_dump(), "release_dir": "/r"}}))
    assert registry_published(tmp_path, "m") == Release(release_dir="/r", score=score(0.8))


def register_many(artifacts_dir, writer, count):
    for number in range(count):
        record_release(
            artifacts_dir, f"model-{writer}-{number}", release(number / count + 0.2, True, f"{writer}{number}")
        )


def test_concurrent_releases_keep_every_entry_and_the_registry_is_always_whole(tmp_path):
    # Spawned: a forked child of a process whose Prefect test server runs in threads can inherit held locks.
    spawn = multiprocessing.get_context("spawn")
    writers = [spawn.Process(target=register_many, args=(tmp_path, writer, 25)) for writer in range(4)]
    for writer in writers:
        writer.start()
    registry, seen = tmp_path / "registry.json", 0
    while any(writer.is_alive() for writer in writers):
        if registry.is_file():
            seen = max(seen, len(json.loads(registry.read_text())))  # fails on a half-written file
    for writer in writers:
        writer.join(20)
    assert [writer.exitcode for writer in writers] == [0] * 4
    entries = json.loads(registry.read_text())
    assert len(entries) == 100 and seen > 0
    assert entries["model-3-24"]["published"]["release_dir"] == "/releases/324"
    assert sorted(path.name for path in tmp_path.iterdir()) == [".registry.json.lock", "registry.json"]

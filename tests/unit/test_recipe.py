"""The learning rate and warm-up a run takes when left to auto: the recipe by the model's size."""

import pytest

from tasks.config.command_line import build_parser
from tasks.config.finetune import FinetuneConfig
from tasks.config.recipe import BASE, LARGE, SMALL, recipe_for, with_recipe
from tasks.config.training import TrainingConfig
from tasks.data.assets import embedded_model_dir
from tasks.engines.request import TrainRequest
from tasks.pretrained import ModelSource, hidden_size
from tasks.steps.release import trained_settings


@pytest.mark.parametrize(
    "width, recipe", [(256, SMALL), (384, SMALL), (767, SMALL), (768, BASE), (1023, BASE), (1024, LARGE), (4096, LARGE)]
)
def test_the_recipe_follows_the_encoders_hidden_size(width, recipe):
    assert recipe_for(width) is recipe


def test_auto_takes_the_recipes_values_and_a_users_value_wins():
    auto = FinetuneConfig().section(TrainingConfig)
    assert (auto.learning_rate, auto.warmup_ratio) == ("auto", "auto")
    assert with_recipe(auto, "ner", 384).learning_rate == 2e-4
    assert with_recipe(auto, "sequence-classification", 384).learning_rate == 1e-4
    base = with_recipe(auto, "ner", 768)
    assert (base.learning_rate, base.warmup_ratio) == (5e-5, 0.1)
    large = with_recipe(auto, "sequence-classification", 1024)
    assert (large.learning_rate, large.warmup_ratio) == (2e-5, 0.06)
    mine = FinetuneConfig(learning_rate=3e-5, warmup_ratio=0.0).section(TrainingConfig)
    assert with_recipe(mine, "ner", 1024) == mine
    assert with_recipe(FinetuneConfig(warmup_ratio=0.2).section(TrainingConfig), "ner", 1024).warmup_ratio == 0.2


def test_none_in_a_config_file_of_before_auto_means_auto(tmp_path):
    assert FinetuneConfig(learning_rate=None).learning_rate == "auto"
    assert FinetuneConfig.model_validate({"warmup_ratio": "none"}).warmup_ratio == "auto"


def test_the_embedded_model_is_small_and_training_refuses_a_rate_left_to_auto(tmp_path):
    assert hidden_size(str(embedded_model_dir())) == 384
    request = {
        "tokenized_dir": "t",
        "model": ModelSource(kind="local", location="m"),
        "task": "ner",
        "checkpoints": "c",
        "output": "o",
    }
    with pytest.raises(ValueError, match="training takes its learning rate and warm-up as numbers"):
        TrainRequest(**request, training=FinetuneConfig().section(TrainingConfig))
    TrainRequest(**request, training=with_recipe(FinetuneConfig().section(TrainingConfig), "ner", 384))


def test_help_states_the_recipes():
    flat = "".join(build_parser().format_help().split())  # argparse breaks lines after hyphens too
    assert "auto:bythemodel'ssizeandthetask,frompublishedfine-tuningrecipes(small(hiddensizeunder768)" in flat
    assert "base(hiddensize768to1023):5e-05forner,3e-05forsequence-classification,warm-up0.1" in flat


def test_the_card_states_the_values_auto_took_and_the_recipe_they_came_from():
    auto = FinetuneConfig().section(TrainingConfig)
    trained = {"mixed_precision": "no", "hyperparameters": with_recipe(auto, "ner", 384).model_dump()}
    settings = trained_settings([auto], trained, str(embedded_model_dir()))
    assert settings["learning_rate"].startswith(
        "0.0002 (auto: the recipe for small encoders (hidden size under 768; this one's is 384): measured on "
    )
    assert settings["warmup_ratio"] == "0.1 (auto: the recipe for small encoders)"
    chosen = FinetuneConfig(learning_rate=3e-5).section(TrainingConfig)
    assert trained_settings([chosen], trained, str(embedded_model_dir()))["learning_rate"] == 3e-5

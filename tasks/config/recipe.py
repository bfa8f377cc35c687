"""The learning rate and warm-up of a run that leaves them to ``auto``: a recipe by the model's size, taken from
published fine-tuning recipes, so that a base or large encoder does not train at a small one's rate.

Light on purpose: the config's help text states the recipes before anything heavy loads.
"""

from dataclasses import dataclass

AUTO = "auto"


@dataclass(frozen=True)
class Recipe:
    size: str  # small, base or large
    widths: str  # the encoders' hidden sizes that make that size
    learning_rate: dict[str, float]  # by task
    warmup_ratio: float
    source: str

    def describe(self, hidden_size: int) -> str:
        return f"the recipe for {self.size} encoders ({self.widths}; this one's is {hidden_size}): {self.source}"


# Hidden sizes: MiniLM-L6 384, TinyBERT 312, ELECTRA-small 256; BERT-base, RoBERTa-base, DistilBERT 768; the large
# models 1024 and up.
SMALL = Recipe(
    "small",
    "hidden size under 768",
    {"ner": 2e-4, "sequence-classification": 1e-4},
    0.1,
    "measured on this pipeline's default runs with all-MiniLM-L6-v2 (a classification head on [CLS] diverged at 2e-4 "
    "on sentence pairs and barely moved at 5e-5)",
)
BASE = Recipe(
    "base",
    "hidden size 768 to 1023",
    {"ner": 5e-5, "sequence-classification": 3e-5},
    0.1,
    "BERT's fine-tuning recipe (Devlin et al. 2019, appendix A.3: 5e-5, 3e-5 or 2e-5, warm-up over 10 % of the "
    "steps), 5e-5 being the default of transformers' run_ner.py",
)
LARGE = Recipe(
    "large",
    "hidden size 1024 and up",
    {"ner": 2e-5, "sequence-classification": 2e-5},
    0.06,
    "RoBERTa's GLUE recipe for its large model (Liu et al. 2019, table 10: 1e-5 to 3e-5, warm-up over 6 % of the "
    "steps); large encoders diverge more easily at higher rates",
)
RECIPES = (SMALL, BASE, LARGE)


def recipe_for(hidden_size: int) -> Recipe:
    """The recipe for an encoder of ``hidden_size``."""
    return SMALL if hidden_size < 768 else BASE if hidden_size < 1024 else LARGE


def recipes_help() -> str:
    """The recipes in a sentence, for --help."""
    return "; ".join(
        f"{recipe.size} ({recipe.widths}): "
        + ", ".join(f"{rate:g} for {task}" for task, rate in recipe.learning_rate.items())
        + f", warm-up {recipe.warmup_ratio:g}"
        for recipe in RECIPES
    )


def with_recipe(training, task: str, hidden_size: int):
    """``training`` (a `tasks.config.sections.TrainingConfig`) with an auto learning rate and warm-up taken from the recipe
    for an encoder of ``hidden_size``; the values a user set stay."""
    recipe = recipe_for(hidden_size)
    update = {"learning_rate": recipe.learning_rate[task], "warmup_ratio": recipe.warmup_ratio}
    return training.model_copy(
        update={name: value for name, value in update.items() if getattr(training, name) == AUTO}
    )

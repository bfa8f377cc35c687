"""The code passes the project's lint selection (pyproject.toml: pyflakes, import order, bugbear,
pyupgrade) and is as ruff format writes it, as the pre-commit hooks check."""

import subprocess
import sys

from conftest import REPO


def test_ruff_finds_nothing():
    finished = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "."], cwd=REPO, capture_output=True, text=True
    )
    assert finished.returncode == 0, finished.stdout[-4000:] + finished.stderr[-2000:]


def test_ruff_format_would_change_nothing():
    finished = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "--no-cache", "."], cwd=REPO, capture_output=True, text=True
    )
    assert finished.returncode == 0, finished.stdout[-4000:] + finished.stderr[-2000:]

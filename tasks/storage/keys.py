"""An artifact's key: its inputs, the code of ours the step runs and the libraries it uses, hashed.

A step's code is its module and, transitively, every module of this project that module imports,
read from the import statements anywhere in the source (imports inside functions included), so an
edit to a helper such as `align_labels` changes the key of every step that can run it and of no other.
Steps reach their task's code through its profile (`tasks.profiles`), as an attribute rather than by
an import statement: each module of ours reached brings in the profile's package and every part its
source reaches as ``profile.<part>`` or ``profile_of(...).<part>``.
"""

import ast
import hashlib
import importlib.util
import json
import threading
from collections.abc import Callable
from functools import cache, lru_cache
from importlib.metadata import version
from pathlib import Path
from typing import Any

from tasks.profiles import PARTS
from tasks.storage.files import jsonable

OUR_PACKAGES = ("tasks", "flows")
# The libraries whose version changes what a step writes: weights, tokens, Arrow files.
LIBRARIES = ("torch", "transformers", "tokenizers", "datasets", "accelerate")


def module_file(module: str) -> Path | None:
    """The file of one of our modules, found without importing it (importing a package runs its
    ``__init__``, and the training stack behind it takes seconds)."""
    top, *rest = module.split(".")
    spec = importlib.util.find_spec(top)
    base = Path(next(iter(spec.submodule_search_locations))).joinpath(*rest)
    return next((path for path in (base.with_suffix(".py"), base / "__init__.py") if path.is_file()), None)


def module_source(module: str) -> str:
    return module_file(module).read_text(encoding="utf-8")


_PARSING = threading.Lock()


@lru_cache(maxsize=512)
def parsed(source: str) -> ast.Module:
    """The syntax tree of ``source``, parsed once. Parsing holds a lock: CPython 3.11's parser is not
    safe in threads ("AST constructor recursion depth mismatch" when a sweep's trials key their steps
    at once)."""
    with _PARSING:
        return ast.parse(source)


def _is_ours(module: str) -> bool:
    return module.split(".")[0] in OUR_PACKAGES


def imported_modules(source: str, exists: Callable[[str], bool]) -> set[str]:
    """Modules of ours that ``source`` imports; ``from package import name`` counts ``package.name``
    when that is a module."""
    found = set()
    for node in ast.walk(parsed(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if _is_ours(alias.name)}
        elif isinstance(node, ast.ImportFrom) and node.module and _is_ours(node.module):
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names if exists(f"{node.module}.{alias.name}")}
    return found


def _exists(module: str) -> bool:
    return module_file(module) is not None


def reached_parts(source: str) -> set[str]:
    """The profile parts ``source`` reaches as ``profile.<part>`` (``self.profile.<part>`` too) or
    ``profile_of(...).<part>``: read from the code, not from what its comments or docstrings say."""

    def is_profile(node: ast.expr) -> bool:
        named = isinstance(node, ast.Name) and node.id == "profile"
        attribute = isinstance(node, ast.Attribute) and node.attr == "profile"
        call = isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "profile_of"
        return named or attribute or call

    return {
        node.attr
        for node in ast.walk(parsed(source))
        if isinstance(node, ast.Attribute) and node.attr in PARTS and is_profile(node.value)
    }


def profile_parts(module: str, source: str, task: str | None) -> set[str]:
    """The modules of ``task``'s profile that ``module`` (of source ``source``) runs: the parts it reaches
    (`reached_parts`) and, for a module of ours, the profile's package."""
    if task is None or not module.startswith("tasks."):
        return set()
    package = f"tasks.profiles.{task.replace('-', '_')}"
    return {name for name in {package, *(f"{package}.{part}" for part in reached_parts(source))} if _exists(name)}


def code_closure(module: str, read: Callable[[str], str] = module_source, task: str | None = None) -> dict[str, str]:
    """Digest of the source of ``module`` and of every module of ours it imports, directly or not,
    with ``task``'s profile parts of each."""
    digests, pending = {}, [module]
    while pending:
        name = pending.pop()
        if name in digests:
            continue
        source = read(name)
        digests[name] = hashlib.sha256(source.encode()).hexdigest()[:16]
        reached = imported_modules(source, _exists) | profile_parts(name, source, task)
        pending += sorted(reached - digests.keys())
    return dict(sorted(digests.items()))


def code_fingerprint(module: str, task: str | None = None) -> str:
    return hashlib.sha256(repr(code_closure(module, task=task)).encode()).hexdigest()[:16]


@cache  # installed versions do not change while a process runs
def library_versions() -> dict[str, str]:
    return {name: version(name) for name in LIBRARIES}


def content_key(*parts: Any) -> str:
    """A short, stable hash of JSON-serialisable parts (pydantic models and paths allowed)."""
    payload = json.dumps(parts, sort_keys=True, default=jsonable)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def artifact_key(folder: str, module: str, inputs: dict[str, Any]) -> str:
    # A step's ``task`` input names the profile whose parts it runs (`profile_parts`).
    return content_key(folder, inputs, code_fingerprint(module, inputs.get("task")), library_versions())

"""Pytest plugin for mutation runs: ``pulumi_mlops.policies`` is the mutated copy under ``mutants/policies``.

setup.py maps ``pulumi_mlops.policies`` onto ``policies/`` through the editable install, so the tests of a mutation
run would import the original folder and every mutant would survive. mutmut names each mutant after the module path
of the file it copied (``policies.identity``) and its trampolines compare that name with the function's
``__module__``; so the pack is imported once, as ``policies`` from ``mutants/`` (first on ``sys.path`` during a run),
and every ``pulumi_mlops.policies...`` name is an alias of the same module object, never a second copy.

Only mutmut loads it (``pytest_add_cli_args`` in pyproject.toml); ``make test`` never does.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

__all__ = ["ALIAS", "TARGET", "pytest_configure"]

ALIAS = "pulumi_mlops.policies"
"""The name the tests import the pack by."""

TARGET = "policies"
"""The name mutmut gives the mutated copy (its folder under ``mutants/``)."""


class _AliasLoader(importlib.abc.Loader):
    """Hands back the module imported under ``target`` instead of loading the file a second time."""

    def __init__(self, target: str) -> None:
        self._target = target
        self._spec: ModuleSpec | None = None

    def create_module(self, spec: ModuleSpec) -> ModuleType:
        module = importlib.import_module(self._target)
        self._spec = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        # The import system stamps the alias's spec on the module; relative imports inside it need the real one.
        module.__spec__ = self._spec


class _AliasFinder(importlib.abc.MetaPathFinder):
    """Resolves ``pulumi_mlops.policies`` and its submodules to ``policies`` and its submodules."""

    def find_spec(self, fullname: str, path: Any = None, target: ModuleType | None = None) -> ModuleSpec | None:
        if fullname != ALIAS and not fullname.startswith(ALIAS + "."):
            return None
        return importlib.util.spec_from_loader(fullname, _AliasLoader(TARGET + fullname[len(ALIAS) :]))


if ALIAS in sys.modules and sys.modules[ALIAS] is not sys.modules.get(TARGET):
    raise ImportError(f"{ALIAS} was imported before the mutation plugin; load it with `-p tools.mutation_imports`")
if not any(isinstance(finder, _AliasFinder) for finder in sys.meta_path):
    sys.meta_path.insert(0, _AliasFinder())


def pytest_configure(config: pytest.Config) -> None:
    """Refuses to run against the original pack: a run that does not import ``mutants/policies`` proves nothing."""
    pack = importlib.import_module(TARGET)
    folder = Path(pack.__file__ or "").resolve().parent
    if folder.parent.name != "mutants":
        raise pytest.UsageError(
            f"tools.mutation_imports: `{TARGET}` was imported from {folder}, not from a mutants/ copy; "
            "this plugin is for `make mutation` (mutmut) only"
        )

"""The tree ``make mutation`` runs mutmut in: the pack with its resource checks made mutable, beside the tests.

mutmut 3 never mutates a decorated function (it cannot copy one for its trampoline without running the decorator
twice), and every check of the pack is one: ``@resource_policy(...) def _check(args, report)``. So the staged copy
of ``policies/`` applies that decorator by assignment after the plain function instead, which binds the same name to
the same policy, registered in the same order::

    def _check(args, report): ...
    _check = resource_policy(...)(_check)

Only ``resource_policy`` is rewritten. ``stack_policy`` checks run on whole-stack previews, whose tests are too slow
to rerun per mutant, and ``lru_cache`` would serve a mutant the result the clean run cached before the fork.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import libcst as cst

__all__ = ["MUTABLE_DECORATOR", "STAGED", "stage", "unwrap_resource_policies"]

MUTABLE_DECORATOR = "resource_policy"
"""The decorator applied by assignment in the staged copy, so that mutmut mutates the checks it wraps."""

STAGED = ("policies", "tools", "pyproject.toml")
"""What is copied from the repository into the staging folder (``tests`` is linked, mutmut copies it itself)."""


def _is_mutable_decorator(decorator: cst.Decorator) -> bool:
    call = decorator.decorator
    return isinstance(call, cst.Call) and isinstance(call.func, cst.Name) and call.func.value == MUTABLE_DECORATOR


def unwrap_resource_policies(source: str) -> tuple[str, int]:
    """``source`` with every module-level ``@resource_policy`` applied by assignment, and how many there were.

    Nested functions and methods keep their decorators.
    """
    module = cst.parse_module(source)
    body: list[cst.BaseStatement] = []
    count = 0
    for statement in module.body:
        if not (isinstance(statement, cst.FunctionDef) and any(map(_is_mutable_decorator, statement.decorators))):
            body.append(statement)
            continue
        count += 1
        applied: cst.BaseExpression = statement.name
        for decorator in reversed(statement.decorators):  # ``@a @b def f`` is ``f = a(b(f))``
            applied = cst.Call(func=decorator.decorator, args=[cst.Arg(applied)])
        body.append(statement.with_changes(decorators=[]))
        body.append(cst.SimpleStatementLine([cst.Assign([cst.AssignTarget(statement.name)], applied)]))
    return module.with_changes(body=body).code, count


def stage(root: Path, staging: Path) -> int:
    """Refreshes ``staging`` from ``root`` (keeping mutmut's ``mutants/`` cache); the number of checks unwrapped."""
    staging.mkdir(parents=True, exist_ok=True)
    for name in STAGED:
        target = staging / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        source = root / name
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target)
    tests = staging / "tests"
    if not tests.is_symlink():
        tests.symlink_to(root / "tests", target_is_directory=True)
    unwrapped = 0
    for path in sorted((staging / "policies").glob("*.py")):
        text, count = unwrap_resource_policies(path.read_text(encoding="utf-8"))
        if count:
            path.write_text(text, encoding="utf-8")
            unwrapped += count
    return unwrapped

"""Reading ``PlatformSpec`` from Pulumi stack files and turning validation errors into YAML paths."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .platform import PlatformSpec

__all__ = ["CONFIG_KEY", "PROJECT", "SpecError", "load_stack_config", "parse_spec", "stack_file", "stack_names"]

PROJECT = "pulumi-mlops"
CONFIG_KEY = f"{PROJECT}:platform"


class SpecError(ValueError):
    """A stack configuration that does not describe a valid platform; the message names each YAML path."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source}: invalid platform configuration\n{lines}")


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _messages(exc: ValidationError, root: str) -> list[str]:
    problems: list[str] = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key: check the spelling against stacks/platform.schema.json"
        elif err["type"] == "missing":
            msg = "required key is missing"
        if not loc and err["type"] == "value_error":  # cross-field rules carry their own paths
            problems.extend(f"{root}.{part}" for part in msg.split("\n"))
        else:
            problems.append(f"{root}{_loc(loc)}: {msg}")
    return problems


def parse_spec(raw: Mapping[str, Any], source: str = "<config>", root: str = f"config.{CONFIG_KEY}") -> PlatformSpec:
    """Validate a config mapping into a ``PlatformSpec`` or raise :class:`SpecError`."""
    if not isinstance(raw, Mapping):
        raise SpecError(source, [f"{root}: expected a mapping, got {type(raw).__name__}"])
    try:
        return PlatformSpec.model_validate(dict(raw))
    except ValidationError as exc:
        raise SpecError(source, _messages(exc, root)) from None


def stack_names(stacks_dir: Path) -> list[str]:
    """Names of the stacks that have a ``Pulumi.<stack>.yaml`` in ``stacks_dir``."""
    return sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in stacks_dir.glob("Pulumi.*.yaml"))


def stack_file(stack: str, stacks_dir: Path) -> Path:
    path = stacks_dir / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        known = stack_names(stacks_dir)
        raise SpecError(str(path), [f"no stack named {stack!r}: known stacks are {', '.join(known) or 'none'}"])
    return path


def load_stack_config(path: Path) -> dict[str, Any]:
    """The ``config:`` mapping of a stack file."""
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise SpecError(str(path), [f"not valid YAML: {exc}"]) from None
    config = doc.get("config", {}) if isinstance(doc, dict) else None
    if not isinstance(config, dict):
        raise SpecError(str(path), ["config: expected a mapping of config keys"])
    if CONFIG_KEY not in config:
        raise SpecError(str(path), [f"config.{CONFIG_KEY}: required key is missing"])
    return config

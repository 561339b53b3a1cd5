"""The captured resource graph of one offline preview."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["SECRET_SIG", "SIG_KEY", "CapturedResource", "ResourceGraph", "is_secret", "plain"]

SIG_KEY = "4dabf18193072939515e22adb298388d"
"""Key of the engine's type signature inside a wire map."""
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
"""Signature value that marks a wire map as a secret (its plaintext under ``value``)."""


def is_secret(value: Any) -> bool:
    """Whether a wire value is a wrapped secret."""
    return isinstance(value, dict) and value.get(SIG_KEY) == SECRET_SIG


def plain(value: Any) -> Any:
    """Wire value with secrets unwrapped (for assertions and schema checks)."""
    if isinstance(value, dict):
        if is_secret(value):
            return plain(value.get("value"))
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        if is_secret(value):
            return "[secret]"
        return {str(k): _jsonable(v) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return repr(value)


@dataclass
class CapturedResource:
    """One registered resource as the engine would receive it."""

    urn: str
    type: str
    name: str
    custom: bool
    parent: str | None
    inputs: dict[str, Any]
    """Wire-format inputs (camelCase keys; numbers as floats; secrets wrapped)."""
    dependencies: list[str] = field(default_factory=list)
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    provider: str | None = None
    protect: bool = False
    ignore_changes: list[str] = field(default_factory=list)
    delete_before_replace: bool = False
    retain_on_delete: bool = False
    source_file: str = ""
    """Program file that registered the resource (relative to the project root when inside it); empty if unknown."""
    source_line: int = 0
    """Line of ``source_file`` where the resource was constructed; 0 if unknown."""

    @property
    def props(self) -> dict[str, Any]:
        """Inputs with secrets unwrapped."""
        result: dict[str, Any] = plain(self.inputs)
        return result

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        # Source positions move with every edit of the program: kept out of the graph document for stable diffs.
        del data["source_file"], data["source_line"]
        data["inputs"] = _jsonable(self.inputs)
        data["dependencies"] = sorted(self.dependencies)
        data["property_dependencies"] = {k: sorted(v) for k, v in sorted(self.property_dependencies.items())}
        return data


@dataclass
class ResourceGraph:
    """Every resource of one program run, and the stack outputs."""

    project: str
    stack: str
    resources: dict[str, CapturedResource] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)

    def of_type(self, type_: str) -> list[CapturedResource]:
        return sorted((r for r in self.resources.values() if r.type == type_), key=lambda r: r.urn)

    def named(self, name: str) -> CapturedResource:
        matches = [r for r in self.resources.values() if r.name == name]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} resources named {name!r}")
        return matches[0]

    def children(self, urn: str) -> list[CapturedResource]:
        return sorted((r for r in self.resources.values() if r.parent == urn), key=lambda r: r.urn)

    def counts(self) -> dict[str, int]:
        return dict(sorted(Counter(r.type for r in self.resources.values()).items()))

    def to_json(self) -> str:
        doc = {
            "project": self.project,
            "stack": self.stack,
            "counts": self.counts(),
            "outputs": _jsonable(self.outputs),
            "resources": [self.resources[u].to_json() for u in sorted(self.resources)],
        }
        return json.dumps(doc, indent=2, sort_keys=False) + "\n"

"""Exact-message cases of resource checks: one input, every message the check reports for it (``[]``: silent).

A fragment test (``test_resource_policies.py``) proves a check fires on the field it guards; these pin the whole
message (the field, the value it found and the fix) and the edge cases of each check, the ones a mutation run
(``make mutation``) showed no test telling apart. ``changed(type, path=value, ...)`` is the resource's baseline
from ``test_resource_policies.BASELINES`` with dotted paths set (``DELETE`` removes one).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from .test_resource_policies import BASELINES, DELETE, Props, _set, run

__all__ = ["DELETE", "Exact", "changed", "reported"]


@dataclass(frozen=True)
class Exact:
    """``policy`` on a ``type`` resource with ``props`` reports exactly ``messages``."""

    id: str
    policy: str
    type: str
    props: Props
    messages: list[str]
    config: dict[str, Any] = field(default_factory=dict)
    provider: Props | None = None

    def __str__(self) -> str:
        return self.id


def changed(type_: str, **paths: Any) -> Props:
    """The baseline of ``type_`` with each dotted path (``__`` in a keyword stands for ``.``) set to its value."""
    props = copy.deepcopy(BASELINES[type_])
    for path, value in paths.items():
        _, props = _set(path.replace("__", "."), value)(type_, props)
    return props


def reported(case: Exact) -> list[str]:
    """What ``case.policy`` reports on the case's resource."""
    return run(case.policy, case.type, case.props, case.config, case.provider)

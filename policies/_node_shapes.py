"""What a node pool offers the scheduler: its node shapes (type, allocatable, labels), taints and bounds.

The readers of each kind of pool (:mod:`._pools` for EKS node groups, :mod:`._karpenter_nodes`,
:mod:`._gke_nodes`) build these from a stack's resources; the capacity policies compare pods with them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pulumi_policy import PolicyResource

from pulumi_mlops.spec.instances import Allocatable, InstanceType

from ._base import get, iter_dicts
from ._pods import Labels, Taint

__all__ = ["NodePool", "NodeShape", "arch_of", "fixed_labels", "int_or", "taints_of"]

_EFFECTS = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}


_ARM_FAMILIES = re.compile(r"^(a1|[a-z]+\d+g[a-z]*|t2a|c4a)$")


@dataclass
class NodeShape:
    """One kind of node a pool starts: its type, what pods may use of it, its labels."""

    type_name: str
    itype: InstanceType | None
    allocatable: Allocatable | None
    labels: Labels
    max_nodes: int | None = None
    """Nodes of this shape the pool may run (``None``: unbounded)."""


@dataclass
class NodePool:
    """A group of nodes the cluster autoscaler (or Karpenter, or GKE) sizes between bounds."""

    res: PolicyResource
    kind: str
    """``eks``, ``karpenter``, ``gke`` or ``gke-nap``."""
    shapes: list[NodeShape]
    taints: list[Taint]
    min_nodes: int
    max_nodes: int | None
    max_gpus: int | None
    """Most GPUs the pool can hold at once (``None``: unbounded)."""
    any_shape: bool = False
    """Karpenter and auto-provisioning pick a shape that fits; a node group may launch any of its types."""

    @property
    def name(self) -> str:
        return self.res.name

    @property
    def gpus_per_node(self) -> int:
        return max((s.allocatable.gpus for s in self.shapes if s.allocatable), default=0)

    def describe(self) -> str:
        shapes = ", ".join(
            f"{s.type_name}: {s.allocatable.describe()}" if s.allocatable else f"{s.type_name}: unknown"
            for s in self.shapes[:4]
        )
        more = f" (+{len(self.shapes) - 4} types)" if len(self.shapes) > 4 else ""
        return f"{self.name} ({shapes}{more})"


def taints_of(value: Any) -> list[Taint]:
    found = []
    for t in iter_dicts(value):
        effect = str(get(t, "effect"))
        found.append(Taint(str(get(t, "key", "")), str(get(t, "value", "") or ""), _EFFECTS.get(effect, effect)))
    return found


def fixed_labels(labels: Any) -> Labels:
    return {str(k): frozenset({str(v)}) for k, v in labels.items()} if isinstance(labels, Mapping) else {}


def arch_of(name: str, cloud: str) -> str:
    family = name.split(".")[0] if cloud == "aws" else name.split("-")[0]
    return "arm64" if _ARM_FAMILIES.match(family) else "amd64"


def int_or(value: Any, default: int | None = None) -> int | None:
    return int(float(value)) if value is not None else default

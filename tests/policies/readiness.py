"""Deploy-readiness tests start from a real stack's graph (the valid baseline) and break one thing.

``broken(previews, "dev", mutate)`` deep-copies the cached preview graph of a stack and applies
``mutate`` to it; ``run(result_or_graph, spec, *policies)`` runs the named policies with the config
the stack's spec implies. Helpers find captured resources by name and type.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any

from pulumi_mlops.policies import ALL_POLICIES, policy_config_for
from pulumi_mlops.policies.offline import PolicyReport, Violation, run_policies

from pulumi_mlops.preview import CapturedResource, PreviewResult, ResourceGraph
from pulumi_mlops.spec import PlatformSpec

Previews = Callable[[str], PreviewResult]


def baseline(previews: Previews, stack: str) -> tuple[ResourceGraph, PlatformSpec]:
    """A private copy of the stack's graph and its spec."""
    result = previews(stack)
    return copy.deepcopy(result.graph), result.spec


def broken(
    previews: Previews, stack: str, mutate: Callable[[ResourceGraph], Any]
) -> tuple[ResourceGraph, PlatformSpec]:
    graph, spec = baseline(previews, stack)
    mutate(graph)
    return graph, spec


def run(
    graph: ResourceGraph,
    spec: PlatformSpec,
    *names: str,
    config: dict[str, dict[str, Any]] | None = None,
) -> PolicyReport:
    chosen = [p for p in ALL_POLICIES if p.name in names]
    assert {p.name for p in chosen} == set(names), f"unknown policies: {set(names) - {p.name for p in chosen}}"
    merged = policy_config_for(spec)
    for name, values in (config or {}).items():
        merged.setdefault(name, {}).update(values)
    return run_policies(graph, merged, policies=chosen)


def messages(report: PolicyReport, policy: str | None = None) -> list[str]:
    return [f"{v.resource_name}: {v.message}" for v in report.violations if policy is None or v.policy == policy]


def mandatory(report: PolicyReport) -> list[Violation]:
    return report.mandatory


def named(graph: ResourceGraph, name: str) -> CapturedResource:
    return graph.named(name)


def of_type(graph: ResourceGraph, type_: str) -> list[CapturedResource]:
    return graph.of_type(type_)


def first(
    graph: ResourceGraph, type_: str, where: Callable[[CapturedResource], bool] = lambda r: True
) -> CapturedResource:
    for res in graph.of_type(type_):
        if where(res):
            return res
    raise KeyError(f"no {type_} matches")


def drop(graph: ResourceGraph, *resources: CapturedResource) -> None:
    """Remove resources and every reference to them (as if the program never registered them)."""
    gone = {r.urn for r in resources}
    for urn in gone:
        graph.resources.pop(urn, None)
    for res in graph.resources.values():
        res.dependencies = [d for d in res.dependencies if d not in gone]
        res.property_dependencies = {k: [d for d in v if d not in gone] for k, v in res.property_dependencies.items()}


def cut_dependencies(res: CapturedResource, targets: Iterable[str]) -> None:
    """Remove the given URNs from ``res``'s dependencies and property dependencies."""
    gone = set(targets)
    res.dependencies = [d for d in res.dependencies if d not in gone]
    res.property_dependencies = {k: [d for d in v if d not in gone] for k, v in res.property_dependencies.items()}

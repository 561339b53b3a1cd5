"""Deploy readiness of a previewed stack: the pack's readiness analyses and from where its API is reached.

``mlops preview`` prints both after the resource tree and fails on a mandatory readiness violation,
as ``pulumi preview --policy-pack policies`` would.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from .graph import CapturedResource, ResourceGraph
from .runner import PreviewResult

__all__ = ["Readiness", "api_access", "readiness_of", "readiness_table"]

CLUSTER_TYPES = ("aws:eks/cluster:Cluster", "gcp:container/cluster:Cluster")


@dataclass
class Readiness:
    """The readiness analyses' report and the API access of every cluster the stack configures."""

    report: object
    """:class:`pulumi_mlops.policies.offline.PolicyReport` of the readiness policies."""
    access: list[object]
    """:class:`pulumi_mlops.policies.reachability.ApiAccess` per (provider, cluster)."""

    @property
    def exit_code(self) -> int:
        return int(getattr(self.report, "exit_code", 0))


def _waits_for(graph: ResourceGraph, res: CapturedResource) -> set[str]:
    seen: set[str] = set()
    stack = [*res.dependencies, *(u for urns in res.property_dependencies.values() for u in urns)]
    while stack:
        urn = stack.pop()
        if urn in seen:
            continue
        seen.add(urn)
        dep = graph.resources.get(urn)
        if dep is not None:
            stack.extend([*dep.dependencies, *(u for urns in dep.property_dependencies.values() for u in urns)])
    return seen


def api_access(graph: ResourceGraph) -> list[object]:
    """How each Kubernetes provider built from one of the stack's clusters reaches that cluster's API."""
    from pulumi_mlops.policies.reachability import describe_access

    clusters = [r for r in graph.resources.values() if r.type in CLUSTER_TYPES]
    found: list[object] = []
    for provider in graph.of_type("pulumi:providers:kubernetes"):
        waited = _waits_for(graph, provider)
        for cluster in clusters:
            if cluster.urn in waited:
                found.append(describe_access(cluster.type, cluster.props, provider.props.get("kubeconfig")))
    return found


def readiness_of(result: PreviewResult) -> Readiness:
    """Run the readiness policies on a previewed stack with the config its spec implies."""
    from pulumi_mlops.policies import READINESS_POLICIES, policy_config_for
    from pulumi_mlops.policies.offline import run_policies

    report = run_policies(result.graph, policy_config_for(result.spec), policies=READINESS_POLICIES)
    return Readiness(report=report, access=api_access(result.graph))


def readiness_table(readiness: Readiness) -> RenderableType:
    report = readiness.report
    violations = list(getattr(report, "violations", []))
    checks = len(getattr(report, "policies", []))
    mandatory = [v for v in violations if v.mandatory]
    findings = Tree(f"[bold]deploy readiness[/]: {checks} checks, {len(mandatory)} mandatory finding(s)")
    for v in sorted(violations, key=lambda v: (not v.mandatory, v.policy, v.resource_name)):
        level = "[red]mandatory[/]" if v.mandatory else "[yellow]advisory[/]"
        findings.add(f"{level} {v.policy} [cyan]{escape(v.resource_name)}[/]").add(escape(v.message))
    access = Table(title="Kubernetes API: from where `pulumi up` can deploy")
    access.add_column("cluster")
    access.add_column("through")
    access.add_column("deployable from")
    for a in readiness.access:
        where = getattr(a, "deployable_from", "") or "[red]nowhere[/]: see the readiness findings"
        access.add_row(escape(str(getattr(a, "cluster", ""))), str(getattr(a, "endpoint", "")), where)
    if not violations:
        findings = Tree(f"[bold]deploy readiness[/]: {checks} checks, [green]no findings[/]")
    return Group(findings, access)

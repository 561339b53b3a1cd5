"""How well a previewed stack is checked: per resource type, by a mock test, by a policy, by schema validation.

- *mock test*: a test under ``tests/`` (policy tests excluded) names the type token, e.g. in
  ``graph.of_type("aws:s3/bucket:Bucket")``;
- *policy*: a policy of the pack declares the type (each policy module lists its types in
  ``RESOURCE_TYPES``; each policy keeps its own in ``resource_types``), so this is computed, not guessed;
- *schema*: built-in Kubernetes kinds can be validated against the official OpenAPI schemas
  (``kubernetes-validate``); they count as covered when a test uses it. Other types show ``n/a``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pulumi_policy import Policy
    from rich.table import Table

    from .graph import ResourceGraph

__all__ = [
    "CoverageReport",
    "TypeCoverage",
    "coverage_report",
    "coverage_table",
    "is_builtin_kubernetes",
    "policy_types_index",
    "tested_types",
]

_TOKEN = re.compile(
    r"""["']((?:aws|gcp|kubernetes|random|tls|command|docker-build):[A-Za-z0-9_.\-/]+:[A-Za-z0-9_]+)["']"""
)
_KIND = re.compile(r"""["']([A-Z][A-Za-z0-9]+)["']""")


def is_builtin_kubernetes(type_: str) -> bool:
    """A built-in Kubernetes kind (``kubernetes:apps/v1:Deployment``), not a CRD or a Helm/YAML wrapper."""
    from pulumi_mlops.components.k8s.manifests import BUILTIN_GROUPS

    parts = type_.split(":")
    if len(parts) != 3 or parts[0] != "kubernetes" or "/" not in parts[1]:
        return False
    group = parts[1].rsplit("/", 1)[0]
    return ("" if group == "core" else group) in BUILTIN_GROUPS


@lru_cache(maxsize=8)
def _scan_tests(tests_dir: str) -> tuple[frozenset[str], frozenset[str], bool]:
    tokens: set[str] = set()
    kinds: set[str] = set()
    schema = False
    root = Path(tests_dir)
    for path in root.rglob("*.py"):
        if "policies" in path.relative_to(root).parts:
            continue  # policy tests name types in baselines; they are not mock tests of the components
        text = path.read_text(errors="replace")
        tokens.update(_TOKEN.findall(text))
        kinds.update(_KIND.findall(text))
        schema = schema or "kubernetes_validate" in text
    return frozenset(tokens), frozenset(kinds), schema


def tested_types(tests_dir: Path | None = None) -> tuple[frozenset[str], frozenset[str], bool]:
    """Type tokens and Kubernetes kinds (``"Deployment"``) named by mock tests under ``tests_dir``, and
    whether a test validates Kubernetes schemas."""
    if tests_dir is None:
        from .runner import repo_root

        tests_dir = repo_root() / "tests"
    if not tests_dir.is_dir():
        return frozenset(), frozenset(), False
    return _scan_tests(str(tests_dir.resolve()))


def policy_types_index(policies: Iterable[Policy] | None = None) -> dict[str, tuple[str, ...]]:
    """Resource type -> names of the policies that check it."""
    if policies is None:
        from pulumi_mlops.policies import ALL_POLICIES

        policies = ALL_POLICIES
    index: dict[str, list[str]] = {}
    for policy in policies:
        for type_ in getattr(policy, "resource_types", ()):
            index.setdefault(type_, []).append(policy.name)
    return {t: tuple(sorted(names)) for t, names in index.items()}


@dataclass(frozen=True)
class TypeCoverage:
    """Coverage of one resource type of a stack."""

    type: str
    count: int
    tested: bool
    policies: tuple[str, ...]
    schema: bool | None
    """Schema-validated; ``None`` where schema validation does not apply."""


@dataclass
class CoverageReport:
    """Coverage of every custom resource type of one stack."""

    stack: str
    rows: list[TypeCoverage] = field(default_factory=list)

    @property
    def types(self) -> int:
        return len(self.rows)

    @property
    def tested(self) -> int:
        return sum(r.tested for r in self.rows)

    @property
    def with_policy(self) -> int:
        return sum(bool(r.policies) for r in self.rows)

    @property
    def schema_applicable(self) -> int:
        return sum(r.schema is not None for r in self.rows)

    @property
    def schema_validated(self) -> int:
        return sum(bool(r.schema) for r in self.rows)

    def uncovered(self) -> list[str]:
        """Types with neither a mock test nor a policy."""
        return [r.type for r in self.rows if not r.tested and not r.policies]

    def summary(self) -> str:
        return (
            f"{self.stack}: {self.types} resource types; mock test {self.tested}/{self.types}, "
            f"policy {self.with_policy}/{self.types}, schema {self.schema_validated}/{self.schema_applicable}"
        )


def coverage_report(
    graph: ResourceGraph,
    *,
    tests_dir: Path | None = None,
    policies: Sequence[Policy] | None = None,
) -> CoverageReport:
    """Coverage of the custom resource types in ``graph`` (components and providers are left out)."""
    tokens, kinds, schema_tests = tested_types(tests_dir)
    index = policy_types_index(policies)
    counts: dict[str, int] = {}
    for res in graph.resources.values():
        if res.custom and not res.type.startswith("pulumi:providers:"):
            counts[res.type] = counts.get(res.type, 0) + 1
    rows = [
        TypeCoverage(
            type=t,
            count=n,
            tested=t in tokens or (t.startswith("kubernetes:") and t.rsplit(":", 1)[-1] in kinds),
            policies=index.get(t, ()),
            schema=(schema_tests if is_builtin_kubernetes(t) else None),
        )
        for t, n in sorted(counts.items())
    ]
    return CoverageReport(stack=graph.stack, rows=rows)


def coverage_table(report: CoverageReport) -> Table:
    """A rich table: one row per type with its count, mock-test, policy and schema coverage."""
    from rich.table import Table

    table = Table(title=f"coverage - {report.summary()}")
    table.add_column("type")
    table.add_column("count", justify="right")
    table.add_column("mock test", justify="center")
    table.add_column("policies", justify="right")
    table.add_column("schema", justify="center")
    yes, no = "[green]yes[/]", "[red]no[/]"
    for row in report.rows:
        policies = f"[green]{len(row.policies)}[/]" if row.policies else "[red]0[/]"
        schema = "[dim]n/a[/]" if row.schema is None else (yes if row.schema else no)
        table.add_row(row.type, str(row.count), yes if row.tested else no, policies, schema)
    return table

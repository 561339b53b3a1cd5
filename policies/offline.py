"""Evaluate the pack offline against a captured preview graph, the way the Pulumi engine does.

The SDK's own analyzer servicer (``pulumi_policy.policy._PolicyAnalyzerServicer``, private API of
the pinned pulumi-policy 1.21.0) is driven with the requests the engine sends: ``Configure`` with
every policy's enforcement level and config, one ``Analyze`` per resource (wire-format inputs,
options and provider) and one ``AnalyzeStack`` with every resource, its parent and dependencies.
So unknown values behave as in ``pulumi preview``: a policy that reads one reports an advisory
"can't run policy ... during preview" diagnostic instead of a violation.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from google.protobuf import json_format, struct_pb2
from pulumi.runtime import proto
from pulumi_policy import EnforcementLevel, Policy, StackValidationPolicy
from pulumi_policy.policy import _PolicyAnalyzerServicer
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from . import ALL_POLICIES, DEFAULT_ENFORCEMENT_LEVEL, PACK_NAME, policy_types
from ._base import STACK_NAME

if TYPE_CHECKING:
    from pulumi_mlops.preview.graph import CapturedResource, ResourceGraph

__all__ = [
    "PACK_VERSION",
    "REMOTE_COMPONENTS",
    "PolicyReport",
    "PolicySummary",
    "Violation",
    "check_stack",
    "merge_pack_config",
    "run_policies",
]

PACK_VERSION = "0.1.0"

_TO_PROTO = {
    EnforcementLevel.ADVISORY: proto.ADVISORY,
    EnforcementLevel.MANDATORY: proto.MANDATORY,
    EnforcementLevel.REMEDIATE: proto.REMEDIATE,
    EnforcementLevel.DISABLED: proto.DISABLED,
}
_FROM_PROTO = {v: k.value for k, v in _TO_PROTO.items()}
_SEVERITY = {
    proto.POLICY_SEVERITY_LOW: "low",
    proto.POLICY_SEVERITY_MEDIUM: "medium",
    proto.POLICY_SEVERITY_HIGH: "high",
    proto.POLICY_SEVERITY_CRITICAL: "critical",
}
_UNKNOWN_PREFIX = "can't run policy"
REMOTE_COMPONENTS = frozenset(
    {"kubernetes:helm.sh/v4:Chart", "kubernetes:yaml/v2:ConfigGroup", "kubernetes:yaml/v2:ConfigFile"}
)
"""Component types the Kubernetes provider expands itself (no children under mocks)."""


@dataclass(frozen=True)
class Violation:
    """One diagnostic of the pack, as ``pulumi preview`` would print it."""

    policy: str
    description: str
    message: str
    """The policy's own message (without the description the engine prefixes)."""
    level: str
    """``mandatory`` or ``advisory`` (after the engine's preview downgrade)."""
    urn: str
    resource_type: str
    resource_name: str
    severity: str = ""
    unknown: bool = False
    """The policy read a value unknown during preview and could not run (downgraded to advisory)."""

    @property
    def mandatory(self) -> bool:
        return self.level == EnforcementLevel.MANDATORY.value


@dataclass(frozen=True)
class PolicySummary:
    """A policy of the pack: name, description, effective level and the resource types it checks."""

    name: str
    description: str
    level: str
    resource_types: tuple[str, ...]
    stack_policy: bool


@dataclass
class PolicyReport:
    """Every violation of one offline run, and what was evaluated."""

    project: str
    stack: str
    policies: list[PolicySummary]
    violations: list[Violation] = field(default_factory=list)
    resources: int = 0
    source: str = ""
    """The stack file the resources come from (the SARIF location of stack-wide results)."""
    locations: dict[str, tuple[str, int]] = field(default_factory=dict)
    """``(file, line)`` where the program registered each resource, by URN (the SARIF result locations)."""
    remote_components: list[str] = field(default_factory=list)
    """URNs of remote components (``helm.v4.Chart``, ``yaml.v2.ConfigGroup``/``ConfigFile``) whose objects the
    provider renders inside the engine: offline they have no children, so nothing in them was checked."""
    levels: dict[str, str] = field(default_factory=dict)
    """The configured level of every policy (before the preview downgrade of unknown values)."""

    @property
    def up_only(self) -> dict[str, list[Violation]]:
        """Mandatory policies that could not run on some resource because a value is unknown until ``pulumi up``
        (the engine reports those as advisory during preview), by policy."""
        found: dict[str, list[Violation]] = {}
        for v in self.violations:
            if v.unknown and self.levels.get(v.policy) == EnforcementLevel.MANDATORY.value:
                found.setdefault(v.policy, []).append(v)
        return found

    @property
    def mandatory(self) -> list[Violation]:
        return [v for v in self.violations if v.mandatory]

    @property
    def advisory(self) -> list[Violation]:
        return [v for v in self.violations if not v.mandatory]

    @property
    def exit_code(self) -> int:
        """1 when a mandatory policy is violated (``pulumi preview`` fails), else 0."""
        return 1 if self.mandatory else 0

    def by_policy(self) -> dict[str, list[Violation]]:
        grouped: dict[str, list[Violation]] = {}
        for v in sorted(self.violations, key=lambda v: (not v.mandatory, v.policy, v.urn, v.message)):
            grouped.setdefault(v.policy, []).append(v)
        return grouped

    def to_json(self) -> str:
        doc = {
            "project": self.project,
            "stack": self.stack,
            "resources": self.resources,
            "policies": len(self.policies),
            "mandatory": len(self.mandatory),
            "advisory": len(self.advisory),
            "exitCode": self.exit_code,
            "violations": [asdict(v) for v in self.violations],
            "upOnly": {policy: [v.urn for v in found] for policy, found in self.up_only.items()},
            "remoteComponents": list(self.remote_components),
        }
        return json.dumps(doc, indent=2) + "\n"

    def to_sarif(self) -> dict[str, Any]:
        """SARIF 2.1.0 (``policies/sarif.py``): results placed at the program line that registered the resource."""
        from .sarif import to_sarif

        return to_sarif(self)


def _wire(value: Any) -> Any:
    """A captured input value in the engine's wire form (unknowns as the unknown sentinel)."""
    from pulumi.output import Unknown

    if isinstance(value, Unknown):
        return UNKNOWN_STRING_VALUE
    if isinstance(value, Mapping):
        return {str(k): _wire(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_wire(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str | float):
        return value
    if isinstance(value, int):
        return float(value)
    return str(value)


def _struct(props: Mapping[str, Any]) -> struct_pb2.Struct:
    return json_format.ParseDict(_wire(props), struct_pb2.Struct())


def _options(res: CapturedResource) -> Any:
    return proto.AnalyzerResourceOptions(
        protect=res.protect,
        ignoreChanges=list(res.ignore_changes),
        deleteBeforeReplace=res.delete_before_replace,
        deleteBeforeReplaceDefined=res.delete_before_replace,
        parent=res.parent or "",
    )


def _provider(res: CapturedResource, graph: ResourceGraph) -> Any | None:
    if not res.provider:
        return None
    urn = res.provider.rsplit("::", 1)[0] if res.provider.count("::") > 3 else res.provider
    prov = graph.resources.get(urn)
    if prov is None:
        return None
    return proto.AnalyzerProviderResource(type=prov.type, properties=_struct(prov.inputs), urn=prov.urn, name=prov.name)


def _configure(
    servicer: _PolicyAnalyzerServicer,
    policies: Sequence[Policy],
    config: Mapping[str, Mapping[str, Any]],
    levels: Mapping[str, EnforcementLevel],
) -> dict[str, EnforcementLevel]:
    """Send ``Configure`` as the engine does: every policy with its level and config properties."""
    effective: dict[str, EnforcementLevel] = {}
    request = proto.ConfigureAnalyzerRequest()
    for policy in policies:
        level = levels.get(policy.name) or policy.enforcement_level or DEFAULT_ENFORCEMENT_LEVEL
        effective[policy.name] = level
        entry = request.policyConfig[policy.name]
        entry.enforcementLevel = _TO_PROTO[level]
        props = config.get(policy.name) or {}
        if props:
            entry.properties.CopyFrom(json_format.ParseDict(_wire(dict(props)), struct_pb2.Struct()))
    servicer.Configure(request, None)
    return effective


def _collect(
    response: Any,
    default_urn: str,
    by_urn: Mapping[str, CapturedResource],
    descriptions: Mapping[str, str],
) -> Iterable[Violation]:
    for d in response.diagnostics:
        urn = d.urn or default_urn
        description = descriptions.get(d.policyName, d.description)
        message = d.message
        if message.startswith(description):
            message = message[len(description) :].lstrip("\n")
        res = by_urn.get(urn)
        yield Violation(
            policy=d.policyName,
            description=description,
            message=message,
            level=_FROM_PROTO.get(d.enforcementLevel, "advisory"),
            urn=urn,
            resource_type=res.type if res else "pulumi:pulumi:Stack",
            resource_name=res.name if res else urn.rsplit("::", 1)[-1],
            severity=_SEVERITY.get(d.severity, ""),
            unknown=message.startswith(_UNKNOWN_PREFIX),
        )


def run_policies(
    graph: ResourceGraph,
    config: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    policies: Sequence[Policy] | None = None,
    levels: Mapping[str, EnforcementLevel] | None = None,
    source: str = "",
) -> PolicyReport:
    """Run ``policies`` (default: the whole pack) over ``graph`` through the SDK's analyzer servicer.

    ``config`` is per-policy config (``policy_config_for(spec)``); ``levels`` overrides enforcement
    levels by policy name, like ``enforcementLevel`` in a ``--policy-pack-config`` file.
    """
    token = STACK_NAME.set(graph.stack)
    try:
        return _run(graph, config or {}, list(policies if policies is not None else ALL_POLICIES), levels or {}, source)
    finally:
        STACK_NAME.reset(token)


def _run(
    graph: ResourceGraph,
    config: Mapping[str, Mapping[str, Any]],
    chosen: list[Policy],
    levels: Mapping[str, EnforcementLevel],
    source: str,
) -> PolicyReport:
    servicer = _PolicyAnalyzerServicer(PACK_NAME, PACK_VERSION, chosen, DEFAULT_ENFORCEMENT_LEVEL)
    effective = _configure(servicer, chosen, config, levels)
    descriptions = {p.name: p.description for p in chosen}
    resources = sorted(graph.resources.values(), key=lambda r: r.urn)
    by_urn = {r.urn: r for r in resources}
    stack_urn = f"urn:pulumi:{graph.stack}::{graph.project}::pulumi:pulumi:Stack::{graph.project}-{graph.stack}"

    violations: list[Violation] = []
    for res in resources:
        request = proto.AnalyzeRequest(
            type=res.type, properties=_struct(res.inputs), urn=res.urn, name=res.name, options=_options(res)
        )
        provider = _provider(res, graph)
        if provider is not None:
            request.provider.CopyFrom(provider)
        violations.extend(_collect(servicer.Analyze(request, None), res.urn, by_urn, descriptions))

    stack_request = proto.AnalyzeStackRequest()
    for res in resources:
        item = stack_request.resources.add(
            type=res.type, properties=_struct(res.inputs), urn=res.urn, name=res.name, options=_options(res)
        )
        item.parent = res.parent or ""
        item.dependencies.extend(res.dependencies)
        for key, urns in res.property_dependencies.items():
            item.propertyDependencies[key].urns.extend(urns)
        provider = _provider(res, graph)
        if provider is not None:
            item.provider.CopyFrom(provider)
    violations.extend(_collect(servicer.AnalyzeStack(stack_request, None), stack_urn, by_urn, descriptions))

    summaries = [
        PolicySummary(
            name=p.name,
            description=p.description,
            level=effective[p.name].value,
            resource_types=policy_types(p),
            stack_policy=isinstance(p, StackValidationPolicy),
        )
        for p in chosen
    ]
    parents = {r.parent for r in resources if r.parent}
    return PolicyReport(
        project=graph.project,
        stack=graph.stack,
        policies=summaries,
        violations=violations,
        resources=len(resources),
        source=source,
        locations={r.urn: (r.source_file, r.source_line) for r in resources if r.source_file and r.source_line},
        remote_components=[r.urn for r in resources if r.type in REMOTE_COMPONENTS and r.urn not in parents],
        levels={name: level.value for name, level in effective.items()},
    )


def merge_pack_config(
    config: Mapping[str, Mapping[str, Any]],
    doc: Mapping[str, Any],
    policies: Sequence[Policy] | None = None,
) -> tuple[dict[str, dict[str, Any]], dict[str, EnforcementLevel]]:
    """Apply a ``--policy-pack-config`` document to ``config``: returns (per-policy config, level overrides).

    Values are a level (``"advisory"``) or a map with an optional ``enforcementLevel`` and config
    properties; the key ``all`` sets the level of every policy, as in the Pulumi CLI.
    """
    names = [p.name for p in (policies if policies is not None else ALL_POLICIES)]
    merged = {k: dict(v) for k, v in config.items()}
    levels: dict[str, EnforcementLevel] = {}
    for key, value in doc.items():
        targets = names if key == "all" else [key]
        if key != "all" and key not in names:
            raise ValueError(f"policy config names unknown policy {key!r}")
        level = value if isinstance(value, str) else (value or {}).get("enforcementLevel")
        for name in targets:
            if level is not None:
                levels[name] = EnforcementLevel(level)
            if isinstance(value, Mapping) and key != "all":
                props = {k: v for k, v in value.items() if k != "enforcementLevel"}
                merged.setdefault(name, {}).update(props)
    return merged, levels


def check_stack(stack: str, root: Any = None, *, faithful: bool = False) -> PolicyReport:
    """Preview ``stacks/Pulumi.<stack>.yaml`` offline and run the pack with the config its spec implies
    (``faithful``: with computed outputs unknown, as ``pulumi preview`` before the first ``up``)."""
    from pulumi_mlops.preview import preview_stack

    from . import policy_config_for

    result = preview_stack(stack, root, faithful=faithful)
    return run_policies(result.graph, policy_config_for(result.spec), source=f"stacks/Pulumi.{stack}.yaml")

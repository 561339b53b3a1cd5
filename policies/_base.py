"""Shared helpers of the policy modules: typed policy builders, config with defaults, wire-value access.

Policies read wire-format props (camelCase keys, numbers as floats). During a real ``pulumi preview``
the props are the SDK's unknown-checking proxies: reading a value unknown at preview raises
``UnknownValueError``, which the analyzer turns into an advisory "can't run policy during preview"
diagnostic. The helpers here never swallow that exception.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from typing import Any, TypeVar

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

__all__ = [
    "ADVISORY",
    "CONFIG_SCHEMA",
    "DEFAULT_CONFIG",
    "MANDATORY",
    "STACK_NAME",
    "as_list",
    "config_value",
    "get",
    "is_true",
    "iter_dicts",
    "json_doc",
    "profile_of",
    "resource_policy",
    "stack_policy",
]

MANDATORY = EnforcementLevel.MANDATORY
ADVISORY = EnforcementLevel.ADVISORY

DEFAULT_CONFIG: dict[str, Any] = {
    "profile": "",
    "environment": "",
    "maxGpusPerPool": 8,
    "maxGpusPerStack": 16,
    "allowedRegistries": [
        "ghcr.io/pulumi-mlops/",
        "ghcr.io/mlflow/",
        "quay.io/feastdev/",
    ],
    "imageRegistries": ["*.dkr.ecr.*.amazonaws.com/", "*-docker.pkg.dev/"],
    "requiredTags": ["environment", "owner", "cost-center"],
    "requireCmek": True,
    "preinstalledCrdGroups": [],
    "externalBuckets": [],
    "helmHostAccessAllowed": {
        "kube-prometheus-stack": ["prometheus-node-exporter.hostNetwork", "prometheus-node-exporter.hostPID"],
        "nvidia-device-plugin": ["gfd.securityContext.privileged", "mps.enableHostPID"],
        "dcgm-exporter": ["securityContext.runAsUser"],
    },
    "trustedAccounts": [],
}
"""Defaults of every config key a policy reads (``policy_config_for(spec)`` derives stack values)."""

CONFIG_SCHEMA: dict[str, dict[str, Any]] = {
    "profile": {
        "type": "string",
        "enum": ["", "dev", "staging", "prod"],
        "description": "Environment profile; empty infers it from the stack name (prod when unsure).",
    },
    "environment": {"type": "string", "description": "Expected value of the environment tag; empty skips."},
    "maxGpusPerPool": {"type": "integer", "minimum": 1, "description": "Largest GPU count one pool may reach."},
    "maxGpusPerStack": {"type": "integer", "minimum": 1, "description": "Largest GPU count of all pools together."},
    "allowedRegistries": {
        "type": "array",
        "items": {"type": "string"},
        "description": "Image reference prefixes workloads may pull from.",
    },
    "imageRegistries": {
        "type": "array",
        "items": {"type": "string"},
        "description": "Repository prefixes of the stack's own registry, the only place its image builds push to.",
    },
    "requiredTags": {
        "type": "array",
        "items": {"type": "string"},
        "description": "Tag/label keys every resource needs.",
    },
    "requireCmek": {"type": "boolean", "description": "Require customer-managed keys on GCS buckets."},
    "preinstalledCrdGroups": {
        "type": "array",
        "items": {"type": "string"},
        "description": "API groups whose CRDs an existing cluster already has, so nothing must install them.",
    },
    "externalBuckets": {
        "type": "array",
        "items": {"type": "string"},
        "description": "Buckets created and granted outside the stack that workloads may name in s3:// or gs:// URIs.",
    },
    "helmHostAccessAllowed": {
        "type": "object",
        "additionalProperties": {"type": "array", "items": {"type": "string"}},
        "description": "Chart name -> values key paths (dotted, '*' for one segment) that may grant host access: "
        "the node exporter's host namespaces, GPU feature discovery and MPS of the device plugin, DCGM as root.",
    },
    "trustedAccounts": {
        "type": "array",
        "items": {"type": "string", "pattern": "^[0-9]{12}$"},
        "description": "AWS account ids whose root (every principal of the account) role trust policies may name.",
    },
}


def get(value: Any, path: str, default: Any = None) -> Any:
    """``get(props, "vpcConfig.publicAccessCidrs.0")``: walk maps and lists by a dotted path.

    Missing keys and ``None`` give ``default``. Unknown values raise the SDK's ``UnknownValueError``.
    """
    current = value
    for part in path.split("."):
        if isinstance(current, Mapping):
            if part not in current:
                return default
            current = current[part]
        elif isinstance(current, Sequence) and not isinstance(current, str | bytes):
            try:
                current = current[int(part)]
            except (ValueError, IndexError):
                return default
        else:
            return default
        if current is None:
            return default
    return current


def as_list(value: Any) -> list[Any]:
    """A wire list (or a proxy of one) as a list; a scalar as a one-element list; ``None`` as empty."""
    if value is None:
        return []
    if isinstance(value, str | bytes | Mapping):
        return [value]
    if isinstance(value, Sequence):
        return [value[i] for i in range(len(value))]
    return [value]


def is_true(value: Any) -> bool:
    """Booleans as the wire may carry them (``True``, ``"true"``)."""
    return value is True or (isinstance(value, str) and value.lower() == "true")


def json_doc(value: Any) -> Any:
    """An IAM/JSON document given as a string or already as a map; ``None`` if unparsable."""
    if isinstance(value, Mapping):
        return value
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return None


def config_value(args: ResourceValidationArgs | StackValidationArgs, key: str) -> Any:
    """The policy's config value ``key`` (from ``args.get_config()``), else its default."""
    config = args.get_config() or {}
    if key in config and config[key] is not None:
        return config[key]
    return DEFAULT_CONFIG[key]


STACK_NAME: ContextVar[str | None] = ContextVar("pulumi_mlops_policy_stack", default=None)
"""Stack name the offline runner evaluates (the engine's policy process reads it from ``PULUMI_STACK``)."""


def _stack_name() -> str:
    override = STACK_NAME.get()
    if override is not None:
        return override
    try:
        import pulumi

        return str(pulumi.get_stack())
    except Exception:  # runtime not configured
        return ""


def profile_of(args: ResourceValidationArgs | StackValidationArgs) -> str:
    """``dev``, ``staging`` or ``prod``: from config, else inferred from the stack name, else ``prod``."""
    configured = config_value(args, "profile")
    if configured in ("dev", "staging", "prod"):
        return str(configured)
    stack = _stack_name().lower()
    for profile in ("prod", "staging", "dev"):
        if profile in stack:
            return profile
    return "prod"


ResourceCheck = Callable[[ResourceValidationArgs, Callable[[str], None]], None]
StackCheck = Callable[[StackValidationArgs, ReportViolation], None]


def _schema(config: Iterable[str]) -> PolicyConfigSchema | None:
    keys = list(config)
    if not keys:
        return None
    return PolicyConfigSchema(properties={k: {**CONFIG_SCHEMA[k], "default": DEFAULT_CONFIG[k]} for k in keys})


def resource_policy(
    name: str,
    description: str,
    types: Sequence[str],
    *,
    level: EnforcementLevel = MANDATORY,
    config: Sequence[str] = (),
    registry: list[Policy] | None = None,
) -> Callable[[ResourceCheck], ResourceValidationPolicy]:
    """Decorator: a ``ResourceValidationPolicy`` that runs ``check`` on resources of ``types`` only.

    ``check(args, report)`` calls ``report(message)`` once per problem. The policy keeps ``types``
    (``policy.resource_types``) and the config keys it reads (``policy.config_keys``).
    """
    wanted = frozenset(types)

    def wrap(check: ResourceCheck) -> ResourceValidationPolicy:
        def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
            if args.resource_type not in wanted:
                return
            check(args, lambda message: report_violation(message, None))

        policy = ResourceValidationPolicy(
            name=name,
            description=description,
            validate=validate,
            enforcement_level=level,
            config_schema=_schema(config),
        )
        return _register(policy, types, config, registry)

    return wrap


P = TypeVar("P", ResourceValidationPolicy, StackValidationPolicy)


def _register(policy: P, types: Sequence[str], config: Sequence[str], registry: list[Policy] | None) -> P:
    """Record the types a policy checks and the config keys it reads (coverage, pack config), and register it."""
    policy.resource_types = tuple(types)  # type: ignore[attr-defined]
    policy.config_keys = tuple(config)  # type: ignore[attr-defined]
    if registry is not None:
        registry.append(policy)
    return policy


def stack_policy(
    name: str,
    description: str,
    types: Sequence[str],
    *,
    level: EnforcementLevel = MANDATORY,
    config: Sequence[str] = (),
    registry: list[Policy] | None = None,
) -> Callable[[StackCheck], StackValidationPolicy]:
    """Decorator: a ``StackValidationPolicy``; ``types`` are the resource types it inspects (for coverage)."""

    def wrap(check: StackCheck) -> StackValidationPolicy:
        policy = StackValidationPolicy(
            name=name,
            description=description,
            validate=check,
            enforcement_level=level,
            config_schema=_schema(config),
        )
        return _register(policy, types, config, registry)

    return wrap


def iter_dicts(value: Any) -> Iterator[Mapping[str, Any]]:
    """Every map in a list-or-map wire value."""
    for item in as_list(value):
        if isinstance(item, Mapping):
            yield item

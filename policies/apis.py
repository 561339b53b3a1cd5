"""Deploy readiness, cloud APIs: every Google API a GCP resource or feature needs is enabled by the stack first.

On a new project most APIs are off; a resource whose API is off fails with "SERVICE_DISABLED", and
some features fail only later (GKE refuses image streaming without the Container File System API).
The stack enables APIs with ``gcp:projects/service:Service``; every GCP resource must wait for the
Service of each API it needs (the platform's GCP provider depends on all of them).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pulumi_policy import Policy, PolicyResource, ReportViolation, StackValidationArgs

from ._base import get, is_true, iter_dicts, stack_policy
from ._graph import StackGraph

__all__ = ["FEATURE_APIS", "POLICIES", "RESOURCE_TYPES", "TYPE_APIS", "required_apis"]

SERVICE = "gcp:projects/service:Service"
GKE_CLUSTER = "gcp:container/cluster:Cluster"
GKE_NODE_POOL = "gcp:container/nodePool:NodePool"

TYPE_APIS: dict[str, str] = {
    "compute": "compute.googleapis.com",
    "container": "container.googleapis.com",
    "artifactregistry": "artifactregistry.googleapis.com",
    "sql": "sqladmin.googleapis.com",
    "redis": "redis.googleapis.com",
    "servicenetworking": "servicenetworking.googleapis.com",
    "secretmanager": "secretmanager.googleapis.com",
    "kms": "cloudkms.googleapis.com",
    "serviceaccount": "iam.googleapis.com",
    "projects": "cloudresourcemanager.googleapis.com",
    "storage": "storage.googleapis.com",
    "certificatemanager": "certificatemanager.googleapis.com",
    "dns": "dns.googleapis.com",
}
"""Module of a ``gcp:<module>/...`` type token -> the API its calls go to (``projects`` IAM bindings are
Cloud Resource Manager's setIamPolicy; ``projects/service`` itself is exempt: Service Usage is on by default)."""


def _gcfs(props: Mapping[str, Any]) -> bool:
    return is_true(get(props, "nodeConfig.gcfsConfig.enabled")) or is_true(
        get(props, "nodeConfig.containerdConfig.gcfsConfig.enabled")
    )


def _managed_prometheus(props: Mapping[str, Any]) -> bool:
    return is_true(get(props, "monitoringConfig.managedPrometheus.enabled"))


def _logging(props: Mapping[str, Any]) -> bool:
    return bool(list(get(props, "loggingConfig.enableComponents", []) or []))


def _pool_gcfs(props: Mapping[str, Any]) -> bool:
    pools = list(iter_dicts(get(props, "nodePools")))
    return _gcfs(props) or any(_gcfs(p) for p in pools)


FEATURE_APIS: dict[str, list[tuple[str, Callable[[Mapping[str, Any]], bool], str]]] = {
    GKE_NODE_POOL: [("image streaming (nodeConfig.gcfsConfig)", _gcfs, "containerfilesystem.googleapis.com")],
    GKE_CLUSTER: [
        ("image streaming (nodeConfig.gcfsConfig)", _pool_gcfs, "containerfilesystem.googleapis.com"),
        ("managed Prometheus (monitoringConfig.managedPrometheus)", _managed_prometheus, "monitoring.googleapis.com"),
        ("Cloud Logging (loggingConfig.enableComponents)", _logging, "logging.googleapis.com"),
    ],
}
"""Features of a resource that need an API beyond the one of its type."""

RESOURCE_TYPES: tuple[str, ...] = (SERVICE, GKE_CLUSTER, GKE_NODE_POOL)
"""Types inspected besides every ``gcp:`` resource (each needs its module's API)."""

POLICIES: list[Policy] = []


def required_apis(res: PolicyResource) -> list[tuple[str, str]]:
    """``(why, API)`` pairs a GCP resource needs: its type's API and those of the features it turns on."""
    if not res.resource_type.startswith("gcp:") or res.resource_type == SERVICE:
        return []
    module = res.resource_type.split(":", 2)[1].split("/", 1)[0]
    needs: list[tuple[str, str]] = []
    if module in TYPE_APIS:
        needs.append((f"{res.resource_type.rsplit(':', 1)[-1]} resources", TYPE_APIS[module]))
    for why, uses, api in FEATURE_APIS.get(res.resource_type, []):
        if uses(res.props):
            needs.append((why, api))
    return needs


@stack_policy(
    "gcp-apis-enabled",
    "Every GCP resource waits for the gcp:projects/service:Service that enables each API its type and features "
    "need (image streaming needs the Container File System API).",
    RESOURCE_TYPES,
    registry=POLICIES,
)
def _apis(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    graph = StackGraph(args.resources)
    services = {str(get(s.props, "service", "")): s for s in graph.of_type(SERVICE)}
    if not services:
        return  # a stack that enables no API manages a project set up elsewhere
    missing: dict[str, list[str]] = {}
    for res in graph.resources:
        for why, api in required_apis(res):
            service = services.get(api)
            if service is None:
                missing.setdefault(api, []).append(f"{res.name} ({why})")
            elif not graph.depends_on(res, service):
                report_violation(
                    f"{res.name} needs {api} for {why} but does not wait for {service.name}, which enables it: the "
                    "first `pulumi up` fails with SERVICE_DISABLED; create it with a provider that depends on the "
                    "project's services",
                    res.urn,
                )
    for api, users in sorted(missing.items()):
        shown = ", ".join(users[:3]) + (f" and {len(users) - 3} more" if len(users) > 3 else "")
        report_violation(
            f"{api} is not enabled by the stack but {shown} need it: add it to PLATFORM_SERVICES "
            "(components/gcp/services.py)",
            None,
        )

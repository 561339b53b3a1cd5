"""Deploy readiness, databases: the pods that use the platform's PostgreSQL can reach it with what they are given.

A pod is a client of a database instance of the stack when its template's values derive from the instance
(the MLflow server's ``--backend-store-uri`` holds its address) or it reads a Secret whose data does (the
search workers' ``MLOPS_SEARCH_STORAGE`` URL); the graph's property dependencies say so even where the values
are unknown at preview.

- ``secret-references-resolve``: every Secret a pod template reads (env ``secretKeyRef``, ``envFrom``, secret
  and projected volumes), unless marked optional, is a Secret of the stack in the pod's namespace holding the
  key. A missing one leaves the pod in ``CreateContainerConfigError``, which ``pulumi up`` never reports for a
  CronJob.
- ``database-reachable``: for every client, (1) the NetworkPolicies of its namespace that select it let it
  connect to the database's port at the database's range (the VPC range on AWS, the private services range on
  GCP); (2) the cloud network admits it: on AWS the instance's security groups admit the port from the
  security group of every node pool (the EKS cluster security group that managed node groups carry, the
  security groups each Karpenter ``EC2NodeClass`` selects by id) or from the VPC range; on GCP the instance
  has a private IP on the GKE cluster's network, the cluster is VPC-native (its pod range is routed over the
  peering), and a private services access connection on that network exists that the instance waits for.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from pulumi_policy import Policy, PolicyResource, ReportViolation, StackValidationArgs

from ._base import get, iter_dicts, stack_policy
from ._database_paths import (
    CLOUD_SQL,
    PATH_TYPES,
    RDS_INSTANCE,
    aws_problems,
    egress_problem,
    gcp_problems,
    k8s_meta,
)
from ._graph import WORKLOAD_TYPES, PodTemplate, StackGraph

__all__ = ["DB_TYPES", "POLICIES", "RESOURCE_TYPES", "DatabaseClient", "database_clients", "secret_references"]

DB_TYPES = (RDS_INSTANCE, CLOUD_SQL)
"""Database instances whose clients :func:`database_clients` finds."""
SECRET = "kubernetes:core/v1:Secret"

RESOURCE_TYPES: tuple[str, ...] = (*WORKLOAD_TYPES, SECRET, *DB_TYPES, *PATH_TYPES)
"""Every resource type a policy of this module inspects."""

POLICIES: list[Policy] = []


def _label(template: PodTemplate) -> str:
    kind = template.owner.resource_type.rsplit(":", 1)[-1]
    return f"{kind} {template.namespace}/{template.name}"


def _secret_keys(res: PolicyResource) -> set[str]:
    keys: set[str] = set()
    for field in ("data", "stringData"):
        value = get(res.props, field)
        if isinstance(value, Mapping):
            keys.update(str(k) for k in value)
    return keys


@dataclass(frozen=True)
class SecretReference:
    """One Secret (and key) a pod template reads."""

    name: str
    key: str | None
    where: str
    optional: bool


def secret_references(template: PodTemplate) -> Iterator[SecretReference]:
    """Every Secret the template's containers and volumes read."""
    for container in template.containers():
        cname = str(get(container, "name", "?"))
        for var in iter_dicts(get(container, "env")):
            ref = get(var, "valueFrom.secretKeyRef")
            if ref is not None:
                where = f"container {cname} env {get(var, 'name')}"
                yield SecretReference(str(get(ref, "name")), str(get(ref, "key")), where, get(ref, "optional") is True)
        for source in iter_dicts(get(container, "envFrom")):
            ref = get(source, "secretRef")
            if ref is not None:
                where = f"container {cname} envFrom"
                yield SecretReference(str(get(ref, "name")), None, where, get(ref, "optional") is True)
    for volume in iter_dicts(get(template.spec, "volumes")):
        sources = [get(volume, "secret")] + [get(p, "secret") for p in iter_dicts(get(volume, "projected.sources"))]
        for source in sources:
            if not isinstance(source, Mapping):
                continue
            name = str(get(source, "secretName") or get(source, "name"))
            where, optional = f"volume {get(volume, 'name')}", get(source, "optional") is True
            items = list(iter_dicts(get(source, "items")))
            if not items:
                yield SecretReference(name, None, where, optional)
            for item in items:
                yield SecretReference(name, str(get(item, "key")), where, optional)


def _secrets(graph: StackGraph) -> dict[tuple[str, str], PolicyResource]:
    return {k8s_meta(res): res for res in graph.of_type(SECRET)}


@stack_policy(
    "secret-references-resolve",
    "Every Secret a pod template reads (env secretKeyRef, envFrom, secret and projected volumes), unless optional, "
    "is a Secret of the stack in the pod's namespace that holds the key.",
    (*WORKLOAD_TYPES, SECRET),
    registry=POLICIES,
)
def _secret_references(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    graph = StackGraph(args.resources)
    secrets = _secrets(graph)
    for template in graph.pod_templates():
        for ref in secret_references(template):
            if ref.optional:
                continue
            secret = secrets.get((template.namespace, ref.name))
            if secret is None:
                elsewhere = sorted(ns for ns, name in secrets if name == ref.name)
                hint = f" (the stack creates it in {', '.join(elsewhere)})" if elsewhere else ""
                report_violation(
                    f"{_label(template)} reads Secret {ref.name!r} ({ref.where}), which the stack does not create in "
                    f"namespace {template.namespace!r}{hint}: its pods would stay in CreateContainerConfigError; "
                    "create the Secret there or point the reference at one that exists",
                    template.owner.urn,
                )
            elif ref.key is not None and ref.key not in _secret_keys(secret):
                keys = ", ".join(sorted(_secret_keys(secret))) or "none"
                report_violation(
                    f"{_label(template)} reads key {ref.key!r} of Secret {template.namespace}/{ref.name} "
                    f"({ref.where}), which holds only {keys}: add the key or read one of those",
                    template.owner.urn,
                )


@dataclass(frozen=True)
class DatabaseClient:
    """A pod template that connects to a database instance of the stack."""

    template: PodTemplate
    instance: PolicyResource
    via: str
    """What ties them: ``its spec`` or ``Secret <name>``."""


def _instances_of(res: PolicyResource, graph: StackGraph) -> list[PolicyResource]:
    urns = {d.urn for deps in res.property_dependencies.values() for d in deps}
    return [graph.by_urn[u] for u in sorted(urns) if u in graph.by_urn and graph.by_urn[u].resource_type in DB_TYPES]


def database_clients(graph: StackGraph) -> list[DatabaseClient]:
    """Every (pod template, database instance) pair where the template's values or a Secret it reads derive from
    the instance."""
    secrets = _secrets(graph)
    found: dict[tuple[str, str], DatabaseClient] = {}
    for template in graph.pod_templates():
        for instance in _instances_of(template.owner, graph):
            found.setdefault((template.owner.urn, instance.urn), DatabaseClient(template, instance, "its spec"))
        for ref in secret_references(template):
            secret = secrets.get((template.namespace, ref.name))
            for instance in _instances_of(secret, graph) if secret is not None else []:
                client = DatabaseClient(template, instance, f"Secret {ref.name}")
                found.setdefault((template.owner.urn, instance.urn), client)
    return list(found.values())


@stack_policy(
    "database-reachable",
    "Every pod that uses a database instance of the stack can connect to it: its namespace's NetworkPolicies allow "
    "egress to the port, and the instance's security groups admit every node pool (AWS) or its private IP is on "
    "the cluster's VPC-native network through private services access (GCP).",
    RESOURCE_TYPES,
    registry=POLICIES,
)
def _database_reachable(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    graph = StackGraph(args.resources)
    cloud: dict[str, list[str]] = {}
    for client in database_clients(graph):
        instance = client.instance
        what = f"{_label(client.template)} uses database {instance.name} ({client.via})"
        problem = egress_problem(graph, client.template, instance)
        if problem:
            report_violation(f"{what}, but {problem}", client.template.owner.urn)
        if instance.urn not in cloud:
            check = aws_problems if instance.resource_type == RDS_INSTANCE else gcp_problems
            cloud[instance.urn] = check(graph, instance)
        for problem in cloud[instance.urn]:
            report_violation(f"{what}, and its pods cannot reach it: {problem}", client.template.owner.urn)

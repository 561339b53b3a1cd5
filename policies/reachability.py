"""Deploy readiness, reachability: the machine running ``pulumi up`` reaches the Kubernetes API it configures.

One program creates the cluster and then, through a provider built from the cluster's outputs, every
Kubernetes object on it. Those objects are created from wherever ``pulumi up`` runs, so that place
must reach the API endpoint the provider's kubeconfig names:

- EKS: a public endpoint restricted to the deployers' egress CIDRs (private access stays on for the
  nodes). A private-only endpoint is reachable only from inside the VPC, which the same program
  creates, so nothing can reach it on the first ``up``. CIDRs that are documentation ranges (RFC
  5737/3849) or private ranges cannot reach a public endpoint: they admit nobody.
- GKE: the DNS-based endpoint (IAM-authorized, reachable from anywhere, with the kubeconfig pointed
  at it), or a public IP endpoint restricted by master authorized networks. A private IP endpoint
  with no DNS endpoint is unreachable from outside the VPC.

:func:`describe_access` states, per cluster, from where it can be deployed; ``mlops preview`` prints it.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from pulumi_policy import Policy, ReportViolation, StackValidationArgs

from ._base import as_list, get, iter_dicts, stack_policy
from ._graph import K8S_PROVIDER, StackGraph, plain

__all__ = ["POLICIES", "RESOURCE_TYPES", "ApiAccess", "describe_access", "kubeconfig_server"]

EKS_CLUSTER = "aws:eks/cluster:Cluster"
GKE_CLUSTER = "gcp:container/cluster:Cluster"

RESOURCE_TYPES: tuple[str, ...] = (EKS_CLUSTER, GKE_CLUSTER, K8S_PROVIDER)
"""Every resource type a policy of this module inspects."""

POLICIES: list[Policy] = []

_DOCUMENTATION = tuple(
    ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
)


@dataclass
class ApiAccess:
    """How one cluster's API is reached by the deployer, and what stops it."""

    cluster: str
    endpoint: str
    """What the kubeconfig targets: ``public endpoint``, ``DNS endpoint`` or ``private endpoint``."""
    deployable_from: str
    """Where ``pulumi up`` can run from (empty when nowhere)."""
    problems: list[str] = field(default_factory=list)


def _why_unusable(cidr: str) -> str | None:
    """Why a CIDR admits no deployer on a public endpoint (``None`` when it can)."""
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return "is not a CIDR"
    if any(net.version == d.version and net.subnet_of(d) for d in _DOCUMENTATION):  # type: ignore[arg-type]
        return "is a documentation range (RFC 5737/3849)"
    if not net.is_global:
        return "is a private or reserved range, which never reaches a public endpoint"
    return None


def kubeconfig_server(kubeconfig: Any) -> str:
    """The ``server`` of a kubeconfig's current context (JSON or YAML text); empty when unreadable."""
    doc: Any = kubeconfig
    if isinstance(kubeconfig, str):
        try:
            doc = json.loads(kubeconfig)
        except ValueError:
            try:
                doc = yaml.safe_load(kubeconfig)
            except yaml.YAMLError:
                return ""
    if not isinstance(doc, Mapping):
        return ""
    clusters = {str(get(c, "name")): c for c in iter_dicts(doc.get("clusters"))}
    contexts = {str(get(c, "name")): c for c in iter_dicts(doc.get("contexts"))}
    current = contexts.get(str(doc.get("current-context", "")))
    entry = clusters.get(str(get(current, "context.cluster"))) if current else None
    if entry is None and len(clusters) == 1:
        entry = next(iter(clusters.values()))
    return str(get(entry, "cluster.server", "")) if entry else ""


def _eks(name: str, props: Mapping[str, Any]) -> ApiAccess:
    public = get(props, "vpcConfig.endpointPublicAccess", True) is not False
    if not public:
        return ApiAccess(
            name,
            "private endpoint",
            "",
            [
                "the EKS endpoint is private-only, reachable only from inside the VPC this stack creates, so the "
                "machine running `pulumi up` cannot create the Kubernetes objects (they time out): enable the public "
                "endpoint restricted to the deployers' egress CIDRs (cluster.public_endpoint with api_allowed_cidrs), "
                "or attach to an existing cluster from inside its network"
            ],
        )
    cidrs = [str(c) for c in as_list(get(props, "vpcConfig.publicAccessCidrs"))] or ["0.0.0.0/0"]
    unusable = {c: why for c in cidrs if (why := _why_unusable(c))}
    usable = [c for c in cidrs if c not in unusable]
    problems = [f"publicAccessCidrs {c} {why}: it admits no deployer" for c, why in unusable.items()]
    if not usable:
        problems.append(
            "no entry of publicAccessCidrs admits any deployer: list the egress CIDRs of the machines that run "
            "`pulumi up` (cluster.api_allowed_cidrs)"
        )
    return ApiAccess(name, "public endpoint", ", ".join(usable) + " (IAM-authenticated)" if usable else "", problems)


def _gke(name: str, props: Mapping[str, Any], server: str) -> ApiAccess:
    dns = get(props, "controlPlaneEndpointsConfig.dnsEndpointConfig.allowExternalTraffic") is True
    private = get(props, "privateClusterConfig.enablePrivateEndpoint") is True
    host = server.removeprefix("https://").split("/", 1)[0].split(":", 1)[0]
    if host.endswith(".gke.goog"):
        if not dns:
            return ApiAccess(
                name,
                "DNS endpoint",
                "",
                [
                    "the kubeconfig targets the DNS-based endpoint but controlPlaneEndpointsConfig.dnsEndpointConfig."
                    "allowExternalTraffic is not true: enable it (cluster.dns_endpoint)"
                ],
            )
        return ApiAccess(name, "DNS endpoint", "anywhere, for identities with container.clusters.connect (IAM)")
    if private:
        hint = "point the kubeconfig at the DNS-based endpoint" if dns else "enable the DNS-based endpoint"
        return ApiAccess(
            name,
            "private endpoint",
            "",
            [
                "the kubeconfig targets the private IP endpoint, reachable only from inside the VPC this stack "
                f"creates, so `pulumi up` cannot create the Kubernetes objects: {hint} (cluster.dns_endpoint)"
            ],
        )
    blocks = [str(get(b, "cidrBlock")) for b in iter_dicts(get(props, "masterAuthorizedNetworksConfig.cidrBlocks"))]
    google = get(props, "masterAuthorizedNetworksConfig.gcpPublicCidrsAccessEnabled") is True
    unusable = {c: why for c in blocks if (why := _why_unusable(c))}
    usable = [c for c in blocks if c not in unusable] + (["Google Cloud public ranges"] if google else [])
    problems = [f"masterAuthorizedNetworksConfig {c} {why}: it admits no deployer" for c, why in unusable.items()]
    if not usable and get(props, "masterAuthorizedNetworksConfig") is not None:
        problems.append(
            "no authorized network admits any deployer: list the deployers' egress CIDRs, or use the DNS-based "
            "endpoint (cluster.dns_endpoint)"
        )
    return ApiAccess(name, "public endpoint", ", ".join(usable) if usable else "", problems)


def describe_access(cluster_type: str, cluster_props: Mapping[str, Any], kubeconfig: Any) -> ApiAccess:
    """From where the cluster's API can be reached through the given kubeconfig, and what prevents it."""
    props = plain(cluster_props)
    name = str(props.get("name", "?"))
    if cluster_type == EKS_CLUSTER:
        return _eks(name, props)
    return _gke(name, props, kubeconfig_server(plain(kubeconfig)))


@stack_policy(
    "kubernetes-api-reachable-from-deployer",
    "Every Kubernetes provider built from a cluster of this stack targets an endpoint the deployer can reach: an "
    "EKS public endpoint restricted to usable CIDRs, or a GKE DNS-based or authorized public endpoint.",
    RESOURCE_TYPES,
    registry=POLICIES,
)
def _reachable(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    graph = StackGraph(args.resources)
    clusters = graph.of_type(EKS_CLUSTER, GKE_CLUSTER)
    for provider in graph.of_type(K8S_PROVIDER):
        for cluster in clusters:
            if not graph.depends_on(provider, cluster):
                continue
            access = describe_access(cluster.resource_type, cluster.props, get(provider.props, "kubeconfig"))
            for problem in access.problems:
                report_violation(
                    f"Kubernetes provider {provider.name!r} configures cluster {access.cluster!r} through its "
                    f"{access.endpoint}: {problem}",
                    cluster.urn,
                )

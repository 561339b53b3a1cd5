"""Network paths from the cluster's pods to a database instance, for :mod:`.databases`.

Each function reads the graph's values (security group rules, node classes' security groups, networks) and
says what stops the path, in words that name the field to change.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from pulumi_policy import PolicyResource

from ._base import as_list, get, iter_dicts
from ._graph import CRON_JOB, PodTemplate, StackGraph

__all__ = [
    "CLOUD_SQL",
    "EKS_CLUSTER",
    "GKE_CLUSTER",
    "GLOBAL_ADDRESS",
    "INGRESS_RULE",
    "NETWORK_POLICY",
    "NODE_CLASS",
    "NODE_GROUP",
    "PATH_TYPES",
    "PSA_CONNECTION",
    "RDS_INSTANCE",
    "SECURITY_GROUP",
    "SG_RULE",
    "VPC",
    "aws_problems",
    "egress_problem",
    "gcp_problems",
    "k8s_meta",
]

RDS_INSTANCE = "aws:rds/instance:Instance"
CLOUD_SQL = "gcp:sql/databaseInstance:DatabaseInstance"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
VPC = "aws:ec2/vpc:Vpc"
EKS_CLUSTER = "aws:eks/cluster:Cluster"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
NODE_CLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
GKE_CLUSTER = "gcp:container/cluster:Cluster"
PSA_CONNECTION = "gcp:servicenetworking/connection:Connection"
GLOBAL_ADDRESS = "gcp:compute/globalAddress:GlobalAddress"
PATH_TYPES = (
    NETWORK_POLICY,
    SECURITY_GROUP,
    INGRESS_RULE,
    SG_RULE,
    VPC,
    EKS_CLUSTER,
    NODE_GROUP,
    NODE_CLASS,
    GKE_CLUSTER,
    PSA_CONNECTION,
    GLOBAL_ADDRESS,
)
"""Resource types the path checks read."""


def k8s_meta(res: PolicyResource) -> tuple[str, str]:
    """Namespace and name of a Kubernetes object."""
    return str(get(res.props, "metadata.namespace", "default")), str(get(res.props, "metadata.name", res.name))


def _db_port(instance: PolicyResource) -> int:
    return int(get(instance.props, "port", 5432) or 5432)


def _networks(values: Any) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    nets = []
    for value in as_list(values):
        try:
            nets.append(ipaddress.ip_network(str(value), strict=False))
        except ValueError:
            continue
    return nets


def _covers(outer: ipaddress.IPv4Network | ipaddress.IPv6Network, inner: Any) -> bool:
    return bool(outer.version == inner.version and inner.subnet_of(outer))


def _db_ranges(graph: StackGraph, instance: PolicyResource) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Where the instance's address lies: the stack's VPC ranges (AWS), its private services range (GCP)."""
    if instance.resource_type == RDS_INSTANCE:
        return _networks([get(v.props, "cidrBlock") for v in graph.of_type(VPC)])
    network = _network_id(get(instance.props, "settings.ipConfiguration.privateNetwork"))
    ranges = []
    for address in graph.of_type(GLOBAL_ADDRESS):
        peering = get(address.props, "purpose") == "VPC_PEERING"
        if peering and get(address.props, "address") and _network_id(get(address.props, "network")) == network:
            ranges += _networks([f"{get(address.props, 'address')}/{int(get(address.props, 'prefixLength', 32))}"])
    return ranges


def _pod_labels(template: PodTemplate) -> dict[str, str]:
    cron = template.owner.resource_type == CRON_JOB
    labels = get(template.owner.props, f"spec.{'jobTemplate.spec.' if cron else ''}template.metadata.labels")
    return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, Mapping) else {}


def _selects(selector: Any, labels: Mapping[str, str]) -> bool:
    if not isinstance(selector, Mapping):
        return True
    match = get(selector, "matchLabels")
    if isinstance(match, Mapping) and any(labels.get(str(k)) != str(v) for k, v in match.items()):
        return False
    for expr in iter_dicts(get(selector, "matchExpressions")):
        key, op = str(get(expr, "key")), str(get(expr, "operator"))
        values = {str(v) for v in as_list(get(expr, "values"))}
        if (op == "In" and labels.get(key) not in values) or (op == "NotIn" and labels.get(key) in values):
            return False
        if (op == "Exists" and key not in labels) or (op == "DoesNotExist" and key in labels):
            return False
    return True


def _rule_allows(rule: Mapping[str, Any], port: int, ranges: list[Any]) -> bool:
    ports = list(iter_dicts(get(rule, "ports")))
    port_ok = not ports or any(
        str(get(p, "protocol", "TCP")) == "TCP"
        and (get(p, "port") is None or int(get(p, "port")) <= port <= int(get(p, "endPort", get(p, "port"))))
        for p in ports
        if not isinstance(get(p, "port"), str)
    )
    peers = list(iter_dicts(get(rule, "to")))
    if not port_ok:
        return False
    if not peers:
        return True
    for peer in peers:
        block = get(peer, "ipBlock")
        if not isinstance(block, Mapping):
            continue
        found = _networks([get(block, "cidr")])
        if not found:
            continue
        cidr = found[0]
        excepted = _networks(get(block, "except"))
        if not ranges or all(_covers(cidr, r) and not any(e.overlaps(r) for e in excepted) for r in ranges):
            return True
    return False


def egress_problem(graph: StackGraph, template: PodTemplate, instance: PolicyResource) -> str | None:
    """Why the NetworkPolicies selecting the template's pods keep them from ``instance`` (None: they do not)."""
    labels, port = _pod_labels(template), _db_port(instance)
    selecting = [
        p
        for p in graph.of_type(NETWORK_POLICY)
        if k8s_meta(p)[0] == template.namespace
        and _selects(get(p.props, "spec.podSelector"), labels)
        and ("Egress" in [str(t) for t in as_list(get(p.props, "spec.policyTypes"))] or get(p.props, "spec.egress"))
    ]
    if not selecting:
        return None
    ranges = _db_ranges(graph, instance)
    if any(_rule_allows(rule, port, ranges) for p in selecting for rule in iter_dicts(get(p.props, "spec.egress"))):
        return None
    names = ", ".join(sorted(k8s_meta(p)[1] for p in selecting))
    where = ", ".join(str(r) for r in ranges) or "its address"
    return (
        f"the NetworkPolicies selecting its pods in namespace {template.namespace!r} ({names}) allow no "
        f"egress to TCP {port} at {where}: add an egress rule for that port to the database's range"
    )


def _sg_admits(graph: StackGraph, groups: list[PolicyResource], port: int) -> tuple[set[str], bool, list[Any]]:
    """Security group ids and CIDRs the groups admit on TCP ``port``, and whether they admit the EKS cluster
    security group (a source derived from the stack's EKS cluster)."""
    ids: set[str] = set()
    cidrs: list[Any] = []
    cluster = False

    def covers(protocol: Any, low: Any, high: Any) -> bool:
        if str(protocol) in ("-1", "all"):
            return True
        return str(protocol).lower() in ("tcp", "6") and int(low or 0) <= port <= int(high or 0)

    for group in groups:
        from_cluster = any(d.resource_type == EKS_CLUSTER for d in group.property_dependencies.get("ingress", []))
        for rule in iter_dicts(get(group.props, "ingress")):
            if not covers(get(rule, "protocol"), get(rule, "fromPort"), get(rule, "toPort")):
                continue
            sources = [str(s) for s in as_list(get(rule, "securityGroups"))]
            ids.update(sources)
            cluster = cluster or (from_cluster and bool(sources))
            cidrs += _networks(get(rule, "cidrBlocks"))
        for standalone in [*graph.of_type(INGRESS_RULE), *graph.of_type(SG_RULE)]:
            if group.urn not in {d.urn for d in standalone.property_dependencies.get("securityGroupId", [])}:
                continue
            props = standalone.props
            if standalone.resource_type == SG_RULE and get(props, "type") != "ingress":
                continue
            if not covers(
                get(props, "ipProtocol", get(props, "protocol")), get(props, "fromPort"), get(props, "toPort")
            ):
                continue
            key = "referencedSecurityGroupId" if standalone.resource_type == INGRESS_RULE else "sourceSecurityGroupId"
            if get(props, key):
                ids.add(str(get(props, key)))
                cluster = cluster or any(
                    d.resource_type == EKS_CLUSTER for d in standalone.property_dependencies.get(key, [])
                )
            cidrs += _networks([get(props, "cidrIpv4"), *as_list(get(props, "cidrBlocks"))])
    return ids, cluster, cidrs


def aws_problems(graph: StackGraph, instance: PolicyResource) -> list[str]:
    """Why the RDS instance's security groups keep out the nodes of some pool of the cluster."""
    port = _db_port(instance)
    groups = [
        d for d in instance.property_dependencies.get("vpcSecurityGroupIds", []) if d.resource_type == SECURITY_GROUP
    ]
    if not groups:
        return [
            "it has no security group of this stack (vpcSecurityGroupIds), so nothing proves the nodes may connect: "
            f"give it one admitting TCP {port} from the EKS cluster security group"
        ]
    ids, cluster, cidrs = _sg_admits(graph, groups, port)
    vpcs = _networks([get(v.props, "cidrBlock") for v in graph.of_type(VPC)])
    by_cidr = bool(vpcs) and any(all(_covers(c, v) for v in vpcs) for c in cidrs)
    names = ", ".join(g.name for g in groups)
    problems = []
    if graph.of_type(NODE_GROUP) and graph.of_type(EKS_CLUSTER) and not (cluster or by_cidr):
        problems.append(
            f"its security groups ({names}) do not admit TCP {port} from the EKS cluster security group, which the "
            "managed node groups' nodes carry: add an ingress rule for the port from the cluster security group"
        )
    for node_class in graph.of_type(NODE_CLASS):
        terms = list(iter_dicts(get(node_class.props, "spec.securityGroupSelectorTerms")))
        selected = {str(get(t, "id")) for t in terms if get(t, "id")}
        if len(selected) < len(terms) or by_cidr or selected & ids:
            continue  # terms by tag cannot be followed here
        problems.append(
            f"its security groups ({names}) admit TCP {port} from none of the security groups EC2NodeClass "
            f"{k8s_meta(node_class)[1]!r} gives its nodes ({', '.join(sorted(selected)) or 'none'}): select the EKS "
            "cluster security group in the node class, or admit the node class's group on the database"
        )
    return problems


def _network_id(value: Any) -> str:
    """``project/network`` of a network given by id, self link or name."""
    text = str(value or "")
    parts = text.split("/")
    name = parts[-1]
    project = parts[parts.index("projects") + 1] if "projects" in parts[:-1] else ""
    return f"{project}/{name}" if project else name


def _same_network(a: str, b: str) -> bool:
    return a == b or (("/" not in a or "/" not in b) and a.rsplit("/", 1)[-1] == b.rsplit("/", 1)[-1])


def gcp_problems(graph: StackGraph, instance: PolicyResource) -> list[str]:
    """Why the cluster's pods get no private path to the Cloud SQL instance."""
    ip = get(instance.props, "settings.ipConfiguration")
    private = get(ip, "privateNetwork")
    if not private:
        return [
            "it has no private IP (settings.ipConfiguration.privateNetwork), and the cluster's pods reach no public "
            "Cloud SQL address: set privateNetwork to the cluster's network"
        ]
    network = _network_id(private)
    problems = []
    for cluster in graph.of_type(GKE_CLUSTER):
        name = str(get(cluster.props, "name", cluster.name))
        if not _same_network(_network_id(get(cluster.props, "network")), network):
            problems.append(
                f"its private IP is on network {network}, and GKE cluster {name!r} is on "
                f"{_network_id(get(cluster.props, 'network'))}: put both on one network"
            )
        native = get(cluster.props, "networkingMode") == "VPC_NATIVE" or get(cluster.props, "ipAllocationPolicy")
        if not native:
            problems.append(
                f"GKE cluster {name!r} is routes-based, and the private services peering carries no route to its pod "
                "range: make it VPC-native (ipAllocationPolicy)"
            )
    connections = [
        c
        for c in graph.of_type(PSA_CONNECTION)
        if _same_network(_network_id(get(c.props, "network")), network)
        and get(c.props, "service", "servicenetworking.googleapis.com") == "servicenetworking.googleapis.com"
    ]
    if not connections:
        problems.append(
            f"no private services access connection (servicenetworking) exists on network {network}, so the "
            "instance gets no private IP there: reserve a range and create the connection"
        )
    elif not any(graph.depends_on(instance, c) for c in connections):
        problems.append(
            f"it does not wait for the private services access connection ({connections[0].name}), and creating "
            "a private-IP instance before the peering exists fails: add the connection to its depends_on"
        )
    return problems

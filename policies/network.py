"""Network exposure: private API endpoints in prod, no open API CIDRs, private nodes, no world-open ingress."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pulumi_policy import Policy, ResourceValidationArgs

from ._base import as_list, get, is_true, iter_dicts, profile_of, resource_policy
from .compute import EKS_CLUSTER, GKE_CLUSTER, GKE_NODE_POOL

Report = Callable[[str], None]

SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
SECURITY_GROUP_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
SG_INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
GCP_FIREWALL = "gcp:compute/firewall:Firewall"

RESOURCE_TYPES: tuple[str, ...] = (
    EKS_CLUSTER,
    GKE_CLUSTER,
    GKE_NODE_POOL,
    SECURITY_GROUP,
    SECURITY_GROUP_RULE,
    SG_INGRESS_RULE,
    GCP_FIREWALL,
)
"""Every resource type a policy of this module checks."""

POLICIES: list[Policy] = []
WEB_PORTS = frozenset({80, 443})


def is_open_cidr(cidr: Any) -> bool:
    """``0.0.0.0/0``, ``::/0`` or any prefix of length 0."""
    try:
        return ipaddress.ip_network(str(cidr), strict=False).prefixlen == 0
    except ValueError:
        return False


def covers_internet(cidrs: Iterable[Any]) -> bool:
    """Whether the CIDRs, alone or together (``0.0.0.0/1`` plus ``128.0.0.0/1``), span all IPv4 or all IPv6
    addresses."""
    v4: list[ipaddress.IPv4Network] = []
    v6: list[ipaddress.IPv6Network] = []
    for cidr in cidrs:
        try:
            net = ipaddress.ip_network(str(cidr), strict=False)
        except ValueError:
            continue
        (v4 if isinstance(net, ipaddress.IPv4Network) else v6).append(net)  # type: ignore[arg-type]
    return any(n.prefixlen == 0 for n in ipaddress.collapse_addresses(v4)) or any(
        n.prefixlen == 0 for n in ipaddress.collapse_addresses(v6)
    )


PROD_MIN_PREFIX = 24
"""Widest public-endpoint CIDR accepted in prod (a /24: a CI runner subnet's NAT range or a VPN egress)."""


@resource_policy(
    "eks-endpoint-restricted-prod",
    "EKS clusters in prod keep the private endpoint on and expose the public endpoint, if at all, only to IPv4 "
    "CIDRs of /24 or narrower.",
    [EKS_CLUSTER],
    config=("profile",),
    registry=POLICIES,
)
def _eks_restricted(args: ResourceValidationArgs, report: Report) -> None:
    if profile_of(args) != "prod":
        return
    if not is_true(get(args.props, "vpcConfig.endpointPrivateAccess")):
        report("vpcConfig.endpointPrivateAccess is not true: enable the private endpoint for the nodes")
    # The EKS API enables the public endpoint unless it is explicitly turned off.
    if get(args.props, "vpcConfig.endpointPublicAccess") is False:
        return
    cidrs = [str(c) for c in as_list(get(args.props, "vpcConfig.publicAccessCidrs"))]
    if not cidrs:
        report("vpcConfig.endpointPublicAccess is not false in prod and lists no publicAccessCidrs: list the deployers")
    for cidr in cidrs:
        try:
            net = ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            report(f"vpcConfig.publicAccessCidrs {cidr!r} is not a CIDR")
            continue
        if net.version != 4 or net.prefixlen < PROD_MIN_PREFIX:
            report(
                f"vpcConfig.publicAccessCidrs {cidr} is wider than /{PROD_MIN_PREFIX} in prod: list the deployers' "
                "egress addresses only"
            )


@resource_policy(
    "eks-public-access-cidrs",
    "EKS public API endpoints are restricted to listed CIDRs that alone or together do not span 0.0.0.0/0.",
    [EKS_CLUSTER],
    registry=POLICIES,
)
def _eks_cidrs(args: ResourceValidationArgs, report: Report) -> None:
    if get(args.props, "vpcConfig.endpointPublicAccess") is False:
        return
    cidrs = as_list(get(args.props, "vpcConfig.publicAccessCidrs"))
    if not cidrs:
        report("public endpoint without vpcConfig.publicAccessCidrs (EKS then allows 0.0.0.0/0): list allowed CIDRs")
    elif covers_internet(cidrs):
        report("vpcConfig.publicAccessCidrs span 0.0.0.0/0 (alone or together): list office/VPN CIDRs only")


@resource_policy(
    "gke-private-nodes",
    "GKE nodes have no public IP addresses (private nodes).",
    [GKE_CLUSTER, GKE_NODE_POOL],
    registry=POLICIES,
)
def _gke_private_nodes(args: ResourceValidationArgs, report: Report) -> None:
    if args.resource_type == GKE_CLUSTER:
        private = get(args.props, "privateClusterConfig.enablePrivateNodes")
        if private is None:
            private = get(args.props, "defaultEnablePrivateNodes")
        if not is_true(private):
            report("privateClusterConfig.enablePrivateNodes is not true: give nodes private IPs only")
    elif get(args.props, "networkConfig.enablePrivateNodes") is False:
        report("networkConfig.enablePrivateNodes is false: keep the pool's nodes private")


@resource_policy(
    "gke-private-endpoint-prod",
    "GKE clusters in prod expose the control plane on the private endpoint only.",
    [GKE_CLUSTER],
    config=("profile",),
    registry=POLICIES,
)
def _gke_private_endpoint(args: ResourceValidationArgs, report: Report) -> None:
    if profile_of(args) != "prod":
        return
    private = get(args.props, "privateClusterConfig.enablePrivateEndpoint")
    if private is None:
        private = get(args.props, "controlPlaneEndpointsConfig.ipEndpointsConfig.enablePublicEndpoint") is False
    if not is_true(private):
        report("privateClusterConfig.enablePrivateEndpoint is not true in prod: make the endpoint private")


@resource_policy(
    "gke-master-authorized-networks",
    "GKE control planes set master authorized networks whose CIDRs together do not span the internet, with "
    "gcpPublicCidrsAccessEnabled off.",
    [GKE_CLUSTER],
    registry=POLICIES,
)
def _gke_authorized(args: ResourceValidationArgs, report: Report) -> None:
    blocks = list(iter_dicts(get(args.props, "masterAuthorizedNetworksConfig.cidrBlocks")))
    if get(args.props, "masterAuthorizedNetworksConfig") is None:
        report("masterAuthorizedNetworksConfig is not set: list the networks allowed to reach the API")
    if covers_internet(get(block, "cidrBlock") for block in blocks):
        report("masterAuthorizedNetworksConfig allows 0.0.0.0/0: list office/VPN CIDRs only")
    if is_true(get(args.props, "masterAuthorizedNetworksConfig.gcpPublicCidrsAccessEnabled")):
        report(
            "masterAuthorizedNetworksConfig.gcpPublicCidrsAccessEnabled is true: it admits every Google Cloud public "
            "IP address (any project's VMs); set it to false and list your networks"
        )


def _port_range(rule: Mapping[str, Any], low: str, high: str) -> tuple[int, int]:
    start, end = get(rule, low), get(rule, high)
    if start is None or end is None:
        return 0, 65535
    return int(start), int(end)


def _sg_rule_problem(cidrs: list[Any], protocol: Any, ports: tuple[int, int]) -> str | None:
    if not covers_internet(cidrs):
        return None
    if str(protocol) in ("-1", "all"):
        return "allows all traffic from 0.0.0.0/0"
    if ports[0] == ports[1] and ports[0] in WEB_PORTS:
        return None
    return f"allows ports {ports[0]}-{ports[1]} from 0.0.0.0/0 (only 80/443 may be world-open)"


@resource_policy(
    "security-group-no-open-ingress",
    "Security groups open only ports 80/443 to CIDRs that alone or together span the internet (0.0.0.0/0, ::/0).",
    [SECURITY_GROUP, SECURITY_GROUP_RULE, SG_INGRESS_RULE],
    registry=POLICIES,
)
def _sg_open(args: ResourceValidationArgs, report: Report) -> None:
    if args.resource_type == SECURITY_GROUP:
        for i, rule in enumerate(iter_dicts(get(args.props, "ingress"))):
            cidrs = as_list(get(rule, "cidrBlocks")) + as_list(get(rule, "ipv6CidrBlocks"))
            problem = _sg_rule_problem(cidrs, get(rule, "protocol"), _port_range(rule, "fromPort", "toPort"))
            if problem:
                report(f"ingress[{i}] {problem}")
    elif args.resource_type == SECURITY_GROUP_RULE:
        if get(args.props, "type") != "ingress":
            return
        cidrs = as_list(get(args.props, "cidrBlocks")) + as_list(get(args.props, "ipv6CidrBlocks"))
        problem = _sg_rule_problem(cidrs, get(args.props, "protocol"), _port_range(args.props, "fromPort", "toPort"))
        if problem:
            report(f"rule {problem}")
    else:
        cidrs = [c for c in (get(args.props, "cidrIpv4"), get(args.props, "cidrIpv6")) if c]
        problem = _sg_rule_problem(cidrs, get(args.props, "ipProtocol"), _port_range(args.props, "fromPort", "toPort"))
        if problem:
            report(f"rule {problem}")


@resource_policy(
    "gcp-firewall-no-open-ingress",
    "GCP firewall rules open only ports 80/443 to source ranges that alone or together span the internet.",
    [GCP_FIREWALL],
    registry=POLICIES,
)
def _gcp_firewall(args: ResourceValidationArgs, report: Report) -> None:
    if str(get(args.props, "direction", "INGRESS")) != "INGRESS":
        return
    if not covers_internet(as_list(get(args.props, "sourceRanges"))):
        return
    for allow in iter_dicts(get(args.props, "allows")):
        ports = [str(p) for p in as_list(get(allow, "ports"))]
        if str(get(allow, "protocol")) == "all" or not ports:
            report(f"allows all {get(allow, 'protocol')} ports from 0.0.0.0/0: restrict sourceRanges")
        elif any(p not in ("80", "443") for p in ports):
            report(f"allows ports {', '.join(ports)} from 0.0.0.0/0 (only 80/443 may be world-open)")

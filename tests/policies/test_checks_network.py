"""Exact messages and edge cases of the EKS/GKE endpoint, security group and firewall checks (see ``exact.py``)."""

from __future__ import annotations

import pytest
from pulumi_mlops.policies.network import covers_internet, is_open_cidr

from .exact import DELETE, Exact, changed, reported

EKS = "aws:eks/cluster:Cluster"
GKE = "gcp:container/cluster:Cluster"
NP = "gcp:container/nodePool:NodePool"
SG = "aws:ec2/securityGroup:SecurityGroup"
SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
FIREWALL = "gcp:compute/firewall:Firewall"
PROD = "eks-endpoint-restricted-prod"
PUBLIC = {"vpcConfig.endpointPublicAccess": True}
WIDER = "is wider than /24 in prod: list the deployers' egress addresses only"
PUBLIC_IP_ENDPOINT = "controlPlaneEndpointsConfig.ipEndpointsConfig.enablePublicEndpoint"
ENDPOINT = "gke-private-endpoint-prod"
ENDPOINT_MESSAGE = "privateClusterConfig.enablePrivateEndpoint is not true in prod: make the endpoint private"
OPEN = "security-group-no-open-ingress"
FIREWALL_POLICY = "gcp-firewall-no-open-ingress"


def _eks(*cidrs: str) -> dict[str, object]:
    return changed(EKS, **PUBLIC, **{"vpcConfig.publicAccessCidrs": list(cidrs)})


CASES = [
    Exact(
        "eks-prod-cidrs",
        PROD,
        EKS,
        _eks("junk", "203.0.113.7/24", "2001:db8::/64", "198.51.100.0/25", "10.0.0.0/16"),
        [
            "vpcConfig.publicAccessCidrs 'junk' is not a CIDR",
            f"vpcConfig.publicAccessCidrs 2001:db8::/64 {WIDER}",
            f"vpcConfig.publicAccessCidrs 10.0.0.0/16 {WIDER}",
        ],
    ),
    Exact(
        "eks-prod-private-endpoint-off",
        PROD,
        EKS,
        changed(EKS, vpcConfig__endpointPrivateAccess=False),
        ["vpcConfig.endpointPrivateAccess is not true: enable the private endpoint for the nodes"],
    ),
    Exact(
        "eks-prod-public-without-cidrs",
        PROD,
        EKS,
        changed(EKS, vpcConfig__endpointPublicAccess=DELETE),
        ["vpcConfig.endpointPublicAccess is not false in prod and lists no publicAccessCidrs: list the deployers"],
    ),
    Exact("eks-listed-cidrs", "eks-public-access-cidrs", EKS, _eks("203.0.113.0/24"), []),
    Exact(
        "eks-without-cidrs",
        "eks-public-access-cidrs",
        EKS,
        _eks(),
        ["public endpoint without vpcConfig.publicAccessCidrs (EKS then allows 0.0.0.0/0): list allowed CIDRs"],
    ),
    Exact(
        "eks-halves-of-the-internet",
        "eks-public-access-cidrs",
        EKS,
        _eks("0.0.0.0/1", "128.0.0.0/1"),
        ["vpcConfig.publicAccessCidrs span 0.0.0.0/0 (alone or together): list office/VPN CIDRs only"],
    ),
    Exact(
        "gke-private-nodes-by-default",
        "gke-private-nodes",
        GKE,
        changed(GKE, privateClusterConfig=DELETE, defaultEnablePrivateNodes=True),
        [],
    ),
    Exact(
        "gke-public-nodes",
        "gke-private-nodes",
        GKE,
        changed(GKE, privateClusterConfig=DELETE),
        ["privateClusterConfig.enablePrivateNodes is not true: give nodes private IPs only"],
    ),
    Exact(
        "gke-pool-public-nodes",
        "gke-private-nodes",
        NP,
        changed(NP, networkConfig__enablePrivateNodes=False),
        ["networkConfig.enablePrivateNodes is false: keep the pool's nodes private"],
    ),
    Exact(
        "gke-dns-endpoint-only",
        ENDPOINT,
        GKE,
        changed(GKE, privateClusterConfig__enablePrivateEndpoint=DELETE, **{PUBLIC_IP_ENDPOINT: False}),
        [],
    ),
    Exact(
        "gke-public-ip-endpoint",
        ENDPOINT,
        GKE,
        changed(GKE, privateClusterConfig__enablePrivateEndpoint=DELETE, **{PUBLIC_IP_ENDPOINT: True}),
        [ENDPOINT_MESSAGE],
    ),
    Exact(
        "gke-authorized-networks",
        "gke-master-authorized-networks",
        GKE,
        changed(GKE, masterAuthorizedNetworksConfig=DELETE),
        ["masterAuthorizedNetworksConfig is not set: list the networks allowed to reach the API"],
    ),
    Exact(
        "gke-authorized-internet-and-google-cidrs",
        "gke-master-authorized-networks",
        GKE,
        changed(
            GKE,
            masterAuthorizedNetworksConfig={
                "cidrBlocks": [{"cidrBlock": "::/1"}, {"cidrBlock": "8000::/1"}],
                "gcpPublicCidrsAccessEnabled": True,
            },
        ),
        [
            "masterAuthorizedNetworksConfig allows 0.0.0.0/0: list office/VPN CIDRs only",
            "masterAuthorizedNetworksConfig.gcpPublicCidrsAccessEnabled is true: it admits every Google Cloud public "
            "IP address (any project's VMs); set it to false and list your networks",
        ],
    ),
    Exact(
        "security-group-ipv6-all-traffic",
        OPEN,
        SG,
        changed(SG, ingress=[{"protocol": "-1", "fromPort": 0.0, "toPort": 0.0, "ipv6CidrBlocks": ["::/0"]}]),
        ["ingress[0] allows all traffic from 0.0.0.0/0"],
    ),
    Exact(
        "security-group-rule-to-port-only",
        OPEN,
        SG_RULE,
        changed(SG_RULE, fromPort=DELETE, toPort=443.0, cidrBlocks=[], ipv6CidrBlocks=["::/0"]),
        ["rule allows ports 0-65535 from 0.0.0.0/0 (only 80/443 may be world-open)"],
    ),
    Exact(
        "security-group-rule-all-protocols",
        OPEN,
        SG_RULE,
        changed(SG_RULE, protocol="all", cidrBlocks=["0.0.0.0/0"]),
        ["rule allows all traffic from 0.0.0.0/0"],
    ),
    Exact(
        "ingress-rule-ipv6",
        OPEN,
        INGRESS_RULE,
        changed(INGRESS_RULE, cidrIpv4=DELETE, cidrIpv6="::/0", ipProtocol="-1"),
        ["rule allows all traffic from 0.0.0.0/0"],
    ),
    Exact(
        "firewall-egress",
        FIREWALL_POLICY,
        FIREWALL,
        changed(FIREWALL, direction="EGRESS", allows=[{"protocol": "all"}]),
        [],
    ),
    Exact(
        "firewall-direction-defaults-to-ingress",
        FIREWALL_POLICY,
        FIREWALL,
        changed(FIREWALL, direction=DELETE, allows=[{"protocol": "tcp"}, {"protocol": "all", "ports": ["443"]}]),
        [
            "allows all tcp ports from 0.0.0.0/0: restrict sourceRanges",
            "allows all all ports from 0.0.0.0/0: restrict sourceRanges",
        ],
    ),
    Exact(
        "firewall-web-port",
        FIREWALL_POLICY,
        FIREWALL,
        changed(FIREWALL, allows=[{"protocol": "tcp", "ports": ["80"]}]),
        [],
    ),
    Exact(
        "firewall-ports",
        FIREWALL_POLICY,
        FIREWALL,
        changed(FIREWALL, allows=[{"protocol": "tcp", "ports": ["443", "8080", "22"]}]),
        ["allows ports 443, 8080, 22 from 0.0.0.0/0 (only 80/443 may be world-open)"],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_the_check_reports_exactly(case: Exact) -> None:
    assert reported(case) == case.messages


@pytest.mark.parametrize(
    ("cidr", "expected"),
    [("0.0.0.0/0", True), ("10.1.2.3/0", True), ("::/0", True), ("10.0.0.0/8", False), ("x", False)],
)
def test_an_open_cidr_is_any_prefix_of_length_zero(cidr: str, expected: bool) -> None:
    assert is_open_cidr(cidr) is expected


@pytest.mark.parametrize(
    ("cidrs", "expected"),
    [
        (["junk", "0.0.0.0/0"], True),
        (["10.1.2.3/0"], True),
        (["10.0.0.0/8", "::/0"], True),
        (["::/1", "8000::/1"], True),
        (["0.0.0.0/1", "::/1"], False),
        (["10.0.0.0/8", "2001:db8::/32"], False),
        ([], False),
    ],
)
def test_cidrs_cover_the_internet_together_within_one_address_family(cidrs: list[str], expected: bool) -> None:
    assert covers_internet(cidrs) is expected

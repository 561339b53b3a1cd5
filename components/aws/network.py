"""The VPC of one environment: public and private subnets per zone, NAT, and private AWS endpoints."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from pulumi_mlops.spec import NetworkSpec

__all__ = ["INTERFACE_ENDPOINTS", "Network", "NetworkArgs", "subnet_cidrs"]

INTERFACE_ENDPOINTS = ("ecr.api", "ecr.dkr", "sts")
"""Interface endpoints that let nodes pull images and get pod credentials without the internet path."""


def subnet_cidrs(vpc_cidr: str, az_count: int) -> tuple[list[str], list[str]]:
    """(private, public) subnet ranges: large private ranges (pods take VPC addresses), small public ones."""
    net = ipaddress.IPv4Network(vpc_cidr)
    blocks = list(net.subnets(prefixlen_diff=3))
    private = [str(b) for b in blocks[:az_count]]
    public = [str(b) for b in list(blocks[-1].subnets(prefixlen_diff=3))[:az_count]]
    return private, public


def _nth(index: int) -> Callable[[list[str]], str]:
    def pick(names: list[str]) -> str:
        return names[index]

    return pick


@dataclass
class NetworkArgs:
    """Inputs of :class:`Network`."""

    spec: NetworkSpec
    """CIDR, zone count and NAT layout (from ``PlatformSpec.network``)."""
    region: str
    """Region the endpoints' service names are built for."""
    cluster_name: str
    """EKS cluster that will use the subnets (subnet discovery tags)."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags put on every resource."""


class Network(pulumi.ComponentResource):
    """VPC with one public and one private subnet per zone, NAT egress and S3/ECR/STS endpoints.

    Outputs: ``vpc_id``, ``vpc_cidr``, ``private_subnet_ids``, ``private_subnet_zones`` (the zone of each private
    subnet, in order), ``public_subnet_ids``, ``nat_gateway_count``.
    """

    vpc_id: pulumi.Output[str]
    vpc_cidr: str
    private_subnet_ids: list[pulumi.Output[str]]
    private_subnet_zones: list[pulumi.Output[str]]
    public_subnet_ids: list[pulumi.Output[str]]
    nat_gateway_count: int

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pulumi-mlops:aws:Network", name, None, opts)
        spec, tags = args.spec, dict(args.tags)
        child = pulumi.ResourceOptions(parent=self)

        def tagged(role: str, **extra: str) -> dict[str, str]:
            return {**tags, "Name": f"{name}-{role}", **extra}

        zones = aws.get_availability_zones_output(state="available", opts=pulumi.InvokeOutputOptions(parent=self))
        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=spec.cidr,
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags=tagged("vpc"),
            opts=child,
        )
        private_cidrs, public_cidrs = subnet_cidrs(spec.cidr, spec.az_count)
        cluster_tag = f"kubernetes.io/cluster/{args.cluster_name}"

        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags=tagged("igw"), opts=child)
        public_rt = aws.ec2.RouteTable(
            f"{name}-public-rt",
            vpc_id=vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=igw.id)],
            tags=tagged("public-rt"),
            opts=child,
        )

        public: list[aws.ec2.Subnet] = []
        private: list[aws.ec2.Subnet] = []
        self.private_subnet_zones = []
        for i in range(spec.az_count):
            zone = zones.names.apply(_nth(i))
            self.private_subnet_zones.append(zone)
            pub = aws.ec2.Subnet(
                f"{name}-public-{i}",
                vpc_id=vpc.id,
                cidr_block=public_cidrs[i],
                availability_zone=zone,
                map_public_ip_on_launch=False,
                tags=tagged(f"public-{i}", **{"kubernetes.io/role/elb": "1", cluster_tag: "shared"}),
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{i}-rt", subnet_id=pub.id, route_table_id=public_rt.id, opts=child
            )
            public.append(pub)
            private.append(
                aws.ec2.Subnet(
                    f"{name}-private-{i}",
                    vpc_id=vpc.id,
                    cidr_block=private_cidrs[i],
                    availability_zone=zone,
                    tags=tagged(f"private-{i}", **{"kubernetes.io/role/internal-elb": "1", cluster_tag: "shared"}),
                    opts=child,
                )
            )

        nat_count = spec.az_count if spec.nat == "per_az" else 1
        nats = []
        for i in range(nat_count):
            eip = aws.ec2.Eip(f"{name}-nat-{i}-eip", domain="vpc", tags=tagged(f"nat-{i}-eip"), opts=child)
            nats.append(
                aws.ec2.NatGateway(
                    f"{name}-nat-{i}",
                    allocation_id=eip.id,
                    subnet_id=public[i].id,
                    tags=tagged(f"nat-{i}"),
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]),
                )
            )

        private_rts = []
        for i, subnet in enumerate(private):
            rt = aws.ec2.RouteTable(
                f"{name}-private-{i}-rt",
                vpc_id=vpc.id,
                routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nats[i % nat_count].id)],
                tags=tagged(f"private-{i}-rt"),
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{i}-rta", subnet_id=subnet.id, route_table_id=rt.id, opts=child
            )
            private_rts.append(rt)

        aws.ec2.VpcEndpoint(
            f"{name}-s3",
            vpc_id=vpc.id,
            service_name=f"com.amazonaws.{args.region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=[rt.id for rt in private_rts],
            tags=tagged("s3"),
            opts=child,
        )
        endpoint_sg = aws.ec2.SecurityGroup(
            f"{name}-endpoints-sg",
            description="HTTPS from inside the VPC to the interface endpoints",
            vpc_id=vpc.id,
            ingress=[
                aws.ec2.SecurityGroupIngressArgs(
                    protocol="tcp", from_port=443, to_port=443, cidr_blocks=[spec.cidr], description="VPC to endpoints"
                )
            ],
            tags=tagged("endpoints-sg"),
            opts=child,
        )
        for service in INTERFACE_ENDPOINTS:
            aws.ec2.VpcEndpoint(
                f"{name}-{service.replace('.', '-')}",
                vpc_id=vpc.id,
                service_name=f"com.amazonaws.{args.region}.{service}",
                vpc_endpoint_type="Interface",
                private_dns_enabled=True,
                subnet_ids=[s.id for s in private],
                security_group_ids=[endpoint_sg.id],
                tags=tagged(service.replace(".", "-")),
                opts=child,
            )

        self.vpc_id = vpc.id
        self.vpc_cidr = spec.cidr
        self.private_subnet_ids = [s.id for s in private]
        self.public_subnet_ids = [s.id for s in public]
        self.nat_gateway_count = nat_count
        self.register_outputs(
            {
                "vpc_id": self.vpc_id,
                "private_subnet_ids": self.private_subnet_ids,
                "public_subnet_ids": self.public_subnet_ids,
            }
        )

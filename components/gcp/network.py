"""The VPC of a GKE cluster: node subnet with pod and service ranges, proxy-only subnet, Cloud Router and NAT."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from pulumi_mlops.spec import NetworkSpec

__all__ = ["PODS_RANGE", "SERVICES_RANGE", "Network", "NetworkArgs"]

PODS_RANGE = "pods"
"""Name of the subnet's secondary range for pod IPs."""
SERVICES_RANGE = "services"
"""Name of the subnet's secondary range for service IPs."""


@dataclass
class NetworkArgs:
    """Inputs of :class:`Network`."""

    spec: NetworkSpec
    """Ranges of the node subnet, pods, services and the proxy-only subnet (from ``PlatformSpec.network``)."""
    project: str
    """GCP project id."""
    region: str
    """Region of the subnets, router and NAT."""
    stem: str
    """Physical-name stem (``<name>-<environment>``) of the network resources."""


class Network(pulumi.ComponentResource):
    """A custom-mode VPC with Private Google Access, a regional proxy-only subnet and Cloud NAT for private nodes.

    Outputs: ``network_id``, ``network_self_link``, ``subnet_id``, ``subnet_self_link``; ``proxy_subnet`` (the
    proxy-only subnet regional Application Load Balancers need, for ``depends_on``).
    """

    network_id: pulumi.Output[str]
    network_self_link: pulumi.Output[str]
    proxy_subnet: gcp.compute.Subnetwork
    subnet_id: pulumi.Output[str]
    subnet_self_link: pulumi.Output[str]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pulumi-mlops:gcp:Network", name, None, opts)
        spec = args.spec
        child = pulumi.ResourceOptions(parent=self)

        vpc = gcp.compute.Network(
            f"{name}-vpc",
            name=f"{args.stem}-vpc",
            project=args.project,
            auto_create_subnetworks=False,
            routing_mode="REGIONAL",
            opts=child,
        )
        subnet = gcp.compute.Subnetwork(
            f"{name}-nodes",
            name=f"{args.stem}-nodes",
            project=args.project,
            region=args.region,
            network=vpc.id,
            ip_cidr_range=spec.cidr,
            private_ip_google_access=True,
            secondary_ip_ranges=[
                gcp.compute.SubnetworkSecondaryIpRangeArgs(range_name=PODS_RANGE, ip_cidr_range=spec.pods_cidr),
                gcp.compute.SubnetworkSecondaryIpRangeArgs(range_name=SERVICES_RANGE, ip_cidr_range=spec.services_cidr),
            ],
            log_config=gcp.compute.SubnetworkLogConfigArgs(
                aggregation_interval="INTERVAL_5_MIN", flow_sampling=0.5, metadata="INCLUDE_ALL_METADATA"
            ),
            opts=child,
        )
        self.proxy_subnet = gcp.compute.Subnetwork(
            f"{name}-proxy",
            name=f"{args.stem}-proxy",
            project=args.project,
            region=args.region,
            network=vpc.id,
            ip_cidr_range=spec.proxy_cidr,
            purpose="REGIONAL_MANAGED_PROXY",
            role="ACTIVE",
            opts=child,
        )
        router = gcp.compute.Router(
            f"{name}-router",
            name=f"{args.stem}-router",
            project=args.project,
            region=args.region,
            network=vpc.id,
            opts=child,
        )
        gcp.compute.RouterNat(
            f"{name}-nat",
            name=f"{args.stem}-nat",
            project=args.project,
            region=args.region,
            router=router.name,
            nat_ip_allocate_option="AUTO_ONLY",
            source_subnetwork_ip_ranges_to_nat="LIST_OF_SUBNETWORKS",
            subnetworks=[
                gcp.compute.RouterNatSubnetworkArgs(name=subnet.id, source_ip_ranges_to_nats=["ALL_IP_RANGES"])
            ],
            log_config=gcp.compute.RouterNatLogConfigArgs(enable=True, filter="ERRORS_ONLY"),
            opts=child,
        )

        self.network_id = vpc.id
        self.network_self_link = vpc.self_link
        self.subnet_id = subnet.id
        self.subnet_self_link = subnet.self_link
        self.register_outputs(
            {
                "network_id": self.network_id,
                "network_self_link": self.network_self_link,
                "subnet_id": self.subnet_id,
                "subnet_self_link": self.subnet_self_link,
            }
        )

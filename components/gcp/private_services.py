"""Private service access: the peering range and connection that give Cloud SQL and Memorystore private IPs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp

__all__ = ["PrivateServiceAccess", "PrivateServiceAccessArgs"]


@dataclass
class PrivateServiceAccessArgs:
    """Inputs of :class:`PrivateServiceAccess`."""

    project: str
    """GCP project id."""
    network: pulumi.Input[str]
    """VPC network id the managed services peer with."""
    stem: str
    """Physical-name stem (``<name>-<environment>``) of the reserved range."""
    prefix_length: int = 16
    """Size of the range reserved for Google-managed services."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Labels put on the reserved address."""


class PrivateServiceAccess(pulumi.ComponentResource):
    """A global ``VPC_PEERING`` address range and the ``servicenetworking`` connection that uses it.

    Outputs: ``range_name`` and ``connection`` (for ``depends_on`` of private-IP services).
    """

    range_name: pulumi.Output[str]
    connection: gcp.servicenetworking.Connection

    def __init__(self, name: str, args: PrivateServiceAccessArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pulumi-mlops:gcp:PrivateServiceAccess", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        address = gcp.compute.GlobalAddress(
            f"{name}-range",
            name=f"{args.stem}-psa",
            project=args.project,
            network=args.network,
            purpose="VPC_PEERING",
            address_type="INTERNAL",
            prefix_length=args.prefix_length,
            labels=dict(args.labels),
            opts=child,
        )
        self.connection = gcp.servicenetworking.Connection(
            f"{name}-connection",
            network=args.network,
            service="servicenetworking.googleapis.com",
            reserved_peering_ranges=[address.name],
            opts=child,
        )
        self.range_name = address.name
        self.register_outputs({"range_name": self.range_name})

"""The dedicated service account of GKE nodes, with the minimal roles nodes need (never the default compute SA)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp

from .identity import account_id

__all__ = ["NODE_ROLES", "NodeServiceAccount", "NodeServiceAccountArgs"]

NODE_ROLES = (
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/monitoring.viewer",
    "roles/artifactregistry.reader",
)
"""Project roles of the node service account: write logs and metrics, pull images."""


@dataclass
class NodeServiceAccountArgs:
    """Inputs of :class:`NodeServiceAccount`."""

    project: str
    """GCP project id."""
    stem: str
    """Physical-name stem (``<name>-<environment>``) of the account id."""
    roles: tuple[str, ...] = field(default=NODE_ROLES)
    """Project roles granted (non-authoritative ``IAMMember`` each)."""


class NodeServiceAccount(pulumi.ComponentResource):
    """A node service account with one ``gcp.projects.IAMMember`` per minimal role.

    Outputs: ``email``.
    """

    email: pulumi.Output[str]

    def __init__(self, name: str, args: NodeServiceAccountArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pulumi-mlops:gcp:NodeServiceAccount", name, None, opts)
        account = gcp.serviceaccount.Account(
            f"{name}-account",
            account_id=account_id(args.stem, "nodes"),
            display_name=f"{args.stem} GKE nodes",
            project=args.project,
            opts=pulumi.ResourceOptions(parent=self),
        )
        for role in args.roles:
            gcp.projects.IAMMember(
                f"{name}-{role.removeprefix('roles/').replace('.', '-').lower()}",
                project=args.project,
                role=role,
                member=account.email.apply(lambda email: f"serviceAccount:{email}"),
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.email = account.email
        self.register_outputs({"email": self.email})

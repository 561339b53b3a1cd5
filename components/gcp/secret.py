"""A Secret Manager secret holding one generated value, readable only by the accounts named."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp

__all__ = ["ManagedSecret", "ManagedSecretArgs"]


@dataclass
class ManagedSecretArgs:
    """Inputs of :class:`ManagedSecret`."""

    project: str
    """GCP project id."""
    secret_id: str
    """Secret name."""
    value: pulumi.Input[str]
    """The secret value (stored as the first version)."""
    region: str
    """The only region the secret is replicated to."""
    accessors: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """``roles/secretmanager.secretAccessor`` grants on this secret only: key (resource-name suffix) -> email."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Labels put on the secret."""


class ManagedSecret(pulumi.ComponentResource):
    """A user-managed (single-region) secret, its version and non-authoritative per-secret accessor grants.

    Outputs: ``secret_id`` (the full resource id) and ``version_name``.
    """

    secret_id: pulumi.Output[str]
    version_name: pulumi.Output[str]

    def __init__(self, name: str, args: ManagedSecretArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pulumi-mlops:gcp:ManagedSecret", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        secret = gcp.secretmanager.Secret(
            f"{name}-secret",
            project=args.project,
            secret_id=args.secret_id,
            replication=gcp.secretmanager.SecretReplicationArgs(
                user_managed=gcp.secretmanager.SecretReplicationUserManagedArgs(
                    replicas=[gcp.secretmanager.SecretReplicationUserManagedReplicaArgs(location=args.region)]
                )
            ),
            labels=dict(args.labels),
            opts=child,
        )
        version = gcp.secretmanager.SecretVersion(
            f"{name}-version",
            secret=secret.id,
            secret_data=pulumi.Output.secret(args.value),
            opts=child,
        )
        for key, email in args.accessors.items():
            gcp.secretmanager.SecretIamMember(
                f"{name}-{key}-accessor",
                project=args.project,
                secret_id=secret.secret_id,
                role="roles/secretmanager.secretAccessor",
                member=pulumi.Output.concat("serviceAccount:", email),
                opts=child,
            )
        self.secret_id = secret.id
        self.version_name = version.name
        self.register_outputs({"secret_id": self.secret_id, "version_name": self.version_name})

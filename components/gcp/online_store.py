"""Memorystore for Redis behind the Feast online store: private service access, AUTH and in-transit TLS."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp

from pulumi_mlops.spec import FeatureStoreSpec

from .secret import ManagedSecret, ManagedSecretArgs

__all__ = ["REDIS_VERSION", "OnlineStore", "OnlineStoreArgs"]

REDIS_VERSION = "REDIS_7_2"
"""Memorystore Redis version."""


@dataclass
class OnlineStoreArgs:
    """Inputs of :class:`OnlineStore`."""

    spec: FeatureStoreSpec
    """Capacity and replicas: ``redis_replicas > 0`` selects the STANDARD_HA tier with that many replicas
    (more than one are read replicas)."""
    project: str
    """GCP project id."""
    region: str
    """Instance region."""
    instance_name: str
    """Physical instance name (also the stem of the AUTH secret)."""
    network: pulumi.Input[str]
    """VPC network id the instance is reachable from."""
    private_services: pulumi.Resource
    """The private service access connection the instance waits for."""
    accessors: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Service account emails allowed to read the AUTH secret, by resource-name suffix."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Labels put on the instance and the secret."""


class OnlineStore(pulumi.ComponentResource):
    """A Redis instance on private service access with AUTH and server-authenticated TLS; its AUTH string is
    stored in Secret Manager.

    Outputs: ``host``, ``port``, ``auth_string`` (secret), ``auth_secret_id``, ``server_ca_certs``.
    """

    host: pulumi.Output[str]
    port: pulumi.Output[int]
    auth_string: pulumi.Output[str]
    auth_secret_id: pulumi.Output[str]
    server_ca_certs: pulumi.Output[list[str]]

    def __init__(self, name: str, args: OnlineStoreArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pulumi-mlops:gcp:OnlineStore", name, None, opts)
        spec = args.spec
        instance = gcp.redis.Instance(
            f"{name}-redis",
            name=args.instance_name,
            project=args.project,
            region=args.region,
            tier="STANDARD_HA" if spec.redis_replicas > 0 else "BASIC",
            # STANDARD_HA keeps one replica for failover; more are read replicas, which must be switched on.
            replica_count=spec.redis_replicas if spec.redis_replicas > 0 else None,
            read_replicas_mode="READ_REPLICAS_ENABLED" if spec.redis_replicas > 1 else None,
            memory_size_gb=spec.redis_memory_gb,
            redis_version=REDIS_VERSION,
            authorized_network=args.network,
            connect_mode="PRIVATE_SERVICE_ACCESS",
            auth_enabled=True,
            transit_encryption_mode="SERVER_AUTHENTICATION",
            labels=dict(args.labels),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[args.private_services]),
        )
        secret = ManagedSecret(
            f"{name}-auth-secret",
            ManagedSecretArgs(
                project=args.project,
                secret_id=f"{args.instance_name}-auth",
                value=instance.auth_string,
                region=args.region,
                accessors=args.accessors,
                labels=args.labels,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.host = instance.host
        self.port = instance.port
        self.auth_string = pulumi.Output.secret(instance.auth_string)
        self.auth_secret_id = secret.secret_id
        self.server_ca_certs = instance.server_ca_certs.apply(lambda certs: [c.cert or "" for c in certs or []])
        self.register_outputs({"host": self.host, "port": self.port, "auth_secret_id": self.auth_secret_id})

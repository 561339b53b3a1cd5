"""The Feast online store: a private ElastiCache Redis replication group with TLS and an AUTH token."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_random as random
from pulumi_mlops.components.k8s.context import RedisRef

from pulumi_mlops.spec import FeatureStoreSpec

from .store_access import cluster_only_security_group, encrypted_secret

__all__ = ["REDIS_ENGINE_VERSION", "REDIS_PORT", "OnlineStore", "OnlineStoreArgs"]

REDIS_PORT = 6379
REDIS_ENGINE_VERSION = "7.1"


@dataclass
class OnlineStoreArgs:
    """Inputs of :class:`OnlineStore`."""

    spec: FeatureStoreSpec
    """Node type and replica count (from ``PlatformSpec.feature_store``)."""
    identifier: str
    """Physical name stem of the replication group and its subnet group."""
    vpc_id: pulumi.Input[str]
    """VPC of the Redis security group."""
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    """Private subnets of the cache subnet group."""
    client_security_group_id: pulumi.Input[str]
    """The only security group allowed to connect (the EKS cluster security group)."""
    kms_key_arn: pulumi.Input[str]
    """Customer-managed KMS key encrypting data at rest and the token secret."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags put on every taggable resource."""


class OnlineStore(pulumi.ComponentResource):
    """Redis encrypted at rest and in transit, AUTH token from a random secret kept in Secrets Manager.

    Outputs: ``address``, ``port``, ``secret_arn`` and ``redis`` (a :class:`RedisRef`, token secret).
    """

    address: pulumi.Output[str]
    port: int
    secret_arn: pulumi.Output[str]
    redis: RedisRef

    def __init__(self, name: str, args: OnlineStoreArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pulumi-mlops:aws:OnlineStore", name, None, opts)
        spec, tags = args.spec, dict(args.tags)
        child = pulumi.ResourceOptions(parent=self)

        token = random.RandomPassword(f"{name}-auth-token", length=48, special=False, opts=child)
        subnets = aws.elasticache.SubnetGroup(
            f"{name}-subnets", name=f"{args.identifier}-redis", subnet_ids=args.subnet_ids, tags=tags, opts=child
        )
        security_group = cluster_only_security_group(
            name, "Redis", REDIS_PORT, args.vpc_id, args.client_security_group_id, tags, child
        )
        replicated = spec.redis_replicas > 0
        group = aws.elasticache.ReplicationGroup(
            f"{name}-redis",
            replication_group_id=f"{args.identifier}-redis"[:40].rstrip("-"),
            description="Feast online store",
            engine="redis",
            engine_version=REDIS_ENGINE_VERSION,
            node_type=spec.redis_node_type,
            num_cache_clusters=1 + spec.redis_replicas,
            automatic_failover_enabled=replicated,
            multi_az_enabled=replicated,
            port=REDIS_PORT,
            subnet_group_name=subnets.name,
            security_group_ids=[security_group.id],
            at_rest_encryption_enabled=True,
            kms_key_id=args.kms_key_arn,
            transit_encryption_enabled=True,
            auth_token=token.result,
            tags=tags,
            opts=child,
        )
        secret = encrypted_secret(
            f"{name}-auth",
            f"{args.identifier}/feast-redis",
            "Feast online store Redis AUTH token",
            args.kms_key_arn,
            pulumi.Output.json_dumps(
                {"host": group.primary_endpoint_address, "port": REDIS_PORT, "tls": True, "auth_token": token.result}
            ),
            tags,
            child,
        )

        self.address = group.primary_endpoint_address
        self.port = REDIS_PORT
        self.secret_arn = secret.arn
        self.redis = RedisRef(host=group.primary_endpoint_address, port=REDIS_PORT, tls=True, auth_token=token.result)
        self.register_outputs({"address": self.address, "port": self.port, "secret_arn": self.secret_arn})

"""The MLflow backend: a private, encrypted RDS PostgreSQL reachable only from the cluster."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_random as random
from pulumi_mlops.components.k8s.context import DatabaseRef

from pulumi_mlops.spec import TrackingSpec

from .store_access import cluster_only_security_group, encrypted_secret

__all__ = ["DB_NAME", "DB_PORT", "DB_USER", "PASSWORD_SPECIALS", "TrackingStore", "TrackingStoreArgs"]

DB_NAME = "mlflow"
DB_USER = "mlflow"
DB_PORT = 5432
PASSWORD_SPECIALS = "!#$%&*()-_=+[]{}<>:?"
"""Punctuation RDS accepts in a master password (no ``/``, ``@``, ``"`` or space)."""


@dataclass
class TrackingStoreArgs:
    """Inputs of :class:`TrackingStore`."""

    spec: TrackingSpec
    """Instance class, storage, version, Multi-AZ, deletion protection and backups (from ``PlatformSpec.tracking``)."""
    identifier: str
    """Physical name stem of the instance and its subnet and parameter groups."""
    vpc_id: pulumi.Input[str]
    """VPC of the database security group."""
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    """Private subnets of the DB subnet group."""
    client_security_group_id: pulumi.Input[str]
    """The only security group allowed to connect (the EKS cluster security group)."""
    kms_key_arn: pulumi.Input[str]
    """Customer-managed KMS key encrypting storage and the credentials secret."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags put on every taggable resource."""


class TrackingStore(pulumi.ComponentResource):
    """RDS PostgreSQL with a random master password kept in Secrets Manager.

    Outputs: ``address``, ``port``, ``secret_arn`` and ``database`` (a :class:`DatabaseRef`, password secret).
    """

    address: pulumi.Output[str]
    port: int
    secret_arn: pulumi.Output[str]
    database: DatabaseRef

    def __init__(self, name: str, args: TrackingStoreArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pulumi-mlops:aws:TrackingStore", name, None, opts)
        spec, tags = args.spec, dict(args.tags)
        child = pulumi.ResourceOptions(parent=self)

        password = random.RandomPassword(
            f"{name}-password", length=32, special=True, override_special=PASSWORD_SPECIALS, opts=child
        )
        subnets = aws.rds.SubnetGroup(
            f"{name}-subnets", name=f"{args.identifier}-db", subnet_ids=args.subnet_ids, tags=tags, opts=child
        )
        security_group = cluster_only_security_group(
            name, "PostgreSQL", DB_PORT, args.vpc_id, args.client_security_group_id, tags, child
        )
        parameters = aws.rds.ParameterGroup(
            f"{name}-params",
            name=f"{args.identifier}-pg{spec.postgres_version}",
            family=f"postgres{spec.postgres_version}",
            parameters=[aws.rds.ParameterGroupParameterArgs(name="rds.force_ssl", value="1")],
            tags=tags,
            opts=child,
        )
        final_snapshot: pulumi.Output[str] | None = None
        if spec.deletion_protection:
            # A final snapshot outlives the instance: a fixed identifier fails the second destroy.
            snapshot_suffix = random.RandomId(f"{name}-final-snapshot-suffix", byte_length=4, opts=child)
            final_snapshot = pulumi.Output.concat(f"{args.identifier}-db-final-", snapshot_suffix.hex)
        instance = aws.rds.Instance(
            f"{name}-db",
            identifier=f"{args.identifier}-db",
            engine="postgres",
            engine_version=spec.postgres_version,
            instance_class=spec.db_instance_class,
            allocated_storage=spec.db_storage_gb,
            storage_type="gp3",
            storage_encrypted=True,
            kms_key_id=args.kms_key_arn,
            db_name=DB_NAME,
            username=DB_USER,
            password=password.result,
            port=DB_PORT,
            db_subnet_group_name=subnets.name,
            vpc_security_group_ids=[security_group.id],
            parameter_group_name=parameters.name,
            publicly_accessible=False,
            multi_az=spec.high_availability,
            deletion_protection=spec.deletion_protection,
            backup_retention_period=spec.backup_retention_days,
            skip_final_snapshot=not spec.deletion_protection,
            final_snapshot_identifier=final_snapshot,
            copy_tags_to_snapshot=True,
            auto_minor_version_upgrade=True,
            tags=tags,
            opts=child,
        )
        credentials = {
            "engine": "postgres",
            "host": instance.address,
            "port": DB_PORT,
            "dbname": DB_NAME,
            "username": DB_USER,
            "password": password.result,
        }
        secret = encrypted_secret(
            f"{name}-credentials",
            f"{args.identifier}/mlflow-db",
            "MLflow PostgreSQL credentials",
            args.kms_key_arn,
            pulumi.Output.json_dumps(credentials),
            tags,
            child,
        )

        self.address = instance.address
        self.port = DB_PORT
        self.secret_arn = secret.arn
        self.database = DatabaseRef(
            host=instance.address, port=DB_PORT, database=DB_NAME, username=DB_USER, password=password.result
        )
        self.register_outputs({"address": self.address, "port": self.port, "secret_arn": self.secret_arn})

"""Cloud SQL for PostgreSQL behind MLflow: private IP only, TLS only, backups, password in Secret Manager."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp
import pulumi_random as random

from pulumi_mlops.spec import TrackingSpec

from .secret import ManagedSecret, ManagedSecretArgs

__all__ = ["DATABASE", "USERNAME", "TrackingStore", "TrackingStoreArgs"]

DATABASE = "mlflow"
"""Database name."""
USERNAME = "mlflow"
"""Database user."""


@dataclass
class TrackingStoreArgs:
    """Inputs of :class:`TrackingStore`."""

    spec: TrackingSpec
    """Tier, storage, version, HA, deletion protection and backup retention (from ``PlatformSpec.tracking``)."""
    project: str
    """GCP project id."""
    region: str
    """Instance region."""
    instance_name: str
    """Stem of the physical instance name (``<stem>-<random suffix>``) and of the password secret."""
    network: pulumi.Input[str]
    """VPC network id the private IP lives in."""
    private_services: pulumi.Resource
    """The private service access connection the instance waits for."""
    accessors: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Service account emails allowed to read the password secret, by resource-name suffix."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Labels put on the instance and the secret."""


class TrackingStore(pulumi.ComponentResource):
    """A PostgreSQL instance with no public IP, ``ENCRYPTED_ONLY`` connections, optional regional HA, backups
    with point-in-time recovery, a database, a user with a generated password stored in Secret Manager.

    Outputs: ``private_ip``, ``connection_name``, ``password`` (secret), ``password_secret_id``.
    """

    private_ip: pulumi.Output[str]
    connection_name: pulumi.Output[str]
    password: pulumi.Output[str]
    password_secret_id: pulumi.Output[str]

    def __init__(self, name: str, args: TrackingStoreArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pulumi-mlops:gcp:TrackingStore", name, None, opts)
        spec = args.spec
        child = pulumi.ResourceOptions(parent=self)
        backups = spec.backup_retention_days > 0

        # A deleted instance's name stays taken for up to a week: a fresh suffix lets an up follow a destroy.
        suffix = random.RandomId(f"{name}-instance-suffix", byte_length=4, opts=child)
        instance = gcp.sql.DatabaseInstance(
            f"{name}-instance",
            name=pulumi.Output.concat(args.instance_name, "-", suffix.hex),
            project=args.project,
            region=args.region,
            database_version=f"POSTGRES_{spec.postgres_version}",
            deletion_protection=spec.deletion_protection,
            settings=gcp.sql.DatabaseInstanceSettingsArgs(
                tier=spec.db_tier,
                edition="ENTERPRISE",
                availability_type="REGIONAL" if spec.high_availability else "ZONAL",
                disk_size=spec.db_storage_gb,
                disk_type="PD_SSD",
                disk_autoresize=True,
                deletion_protection_enabled=spec.deletion_protection,
                ip_configuration=gcp.sql.DatabaseInstanceSettingsIpConfigurationArgs(
                    ipv4_enabled=False,
                    private_network=args.network,
                    ssl_mode="ENCRYPTED_ONLY",
                ),
                backup_configuration=gcp.sql.DatabaseInstanceSettingsBackupConfigurationArgs(
                    enabled=backups,
                    point_in_time_recovery_enabled=backups,
                    transaction_log_retention_days=min(spec.backup_retention_days, 7) if backups else None,
                    backup_retention_settings=(
                        gcp.sql.DatabaseInstanceSettingsBackupConfigurationBackupRetentionSettingsArgs(
                            retained_backups=spec.backup_retention_days, retention_unit="COUNT"
                        )
                        if backups
                        else None
                    ),
                ),
                database_flags=[
                    gcp.sql.DatabaseInstanceSettingsDatabaseFlagArgs(name="log_connections", value="on"),
                    gcp.sql.DatabaseInstanceSettingsDatabaseFlagArgs(name="log_disconnections", value="on"),
                ],
                insights_config=gcp.sql.DatabaseInstanceSettingsInsightsConfigArgs(query_insights_enabled=True),
                user_labels=dict(args.labels),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[args.private_services]),
        )
        database = gcp.sql.Database(
            f"{name}-database", name=DATABASE, project=args.project, instance=instance.name, opts=child
        )
        password = random.RandomPassword(f"{name}-password", length=32, special=False, opts=child)
        gcp.sql.User(
            f"{name}-user",
            name=USERNAME,
            project=args.project,
            instance=instance.name,
            password=password.result,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[database]),
        )
        secret = ManagedSecret(
            f"{name}-password-secret",
            ManagedSecretArgs(
                project=args.project,
                secret_id=f"{args.instance_name}-password",
                value=password.result,
                region=args.region,
                accessors=args.accessors,
                labels=args.labels,
            ),
            opts=child,
        )
        self.private_ip = instance.private_ip_address
        self.connection_name = instance.connection_name
        self.password = pulumi.Output.secret(password.result)
        self.password_secret_id = secret.secret_id
        self.register_outputs(
            {
                "private_ip": self.private_ip,
                "connection_name": self.connection_name,
                "password_secret_id": self.password_secret_id,
            }
        )

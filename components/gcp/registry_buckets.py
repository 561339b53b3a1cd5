"""Cloud Storage buckets for the model registry, datasets and prediction logs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp
import pulumi_random as random
from pulumi_mlops.components.bucket_names import bucket_name

from pulumi_mlops.spec import BucketsSpec

__all__ = ["BUCKET_ROLES", "RegistryBuckets", "RegistryBucketsArgs"]

BUCKET_ROLES = ("models", "datasets", "prediction-logs")
"""One bucket per role: model artifacts (MLflow), datasets and offline features, prediction logs."""


@dataclass
class RegistryBucketsArgs:
    """Inputs of :class:`RegistryBuckets`."""

    spec: BucketsSpec
    """Lifecycle, retention, CMEK and destroy behaviour (from ``PlatformSpec.buckets``)."""
    project: str
    """GCP project id."""
    location: str
    """Bucket location (the region)."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Labels put on every bucket."""
    stem: str = ""
    """Physical-name stem (``<name>-<environment>``): buckets are named ``<stem>-<role>-<project>``
    (``components.bucket_names``). Empty: the component name."""


class RegistryBuckets(pulumi.ComponentResource):
    """Three buckets with uniform access, public access prevention, versioning, lifecycle and optional CMEK.

    Outputs: ``bucket_names`` / ``bucket_urls`` (by role) and ``kms_key_id`` (None without CMEK).
    """

    bucket_names: dict[str, pulumi.Output[str]]
    bucket_urls: dict[str, pulumi.Output[str]]
    kms_key_id: pulumi.Output[str] | None

    def __init__(self, name: str, args: RegistryBucketsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pulumi-mlops:gcp:RegistryBuckets", name, None, opts)
        spec = args.spec
        child = pulumi.ResourceOptions(parent=self)

        encryption = None
        depends: list[pulumi.Resource] = []
        self.kms_key_id = None
        if spec.cmek:
            # Cloud KMS never deletes a key ring or key: a fresh suffix per stack lets an up follow a destroy.
            suffix = random.RandomId(f"{name}-keyring-suffix", byte_length=4, opts=child)
            ring = gcp.kms.KeyRing(
                f"{name}-keyring",
                name=pulumi.Output.concat(name, "-buckets-", suffix.hex),
                location=args.location,
                opts=child,
            )
            key = gcp.kms.CryptoKey(
                f"{name}-key",
                name=f"{name}-buckets",
                key_ring=ring.id,
                rotation_period="7776000s",
                opts=child,
            )
            storage_agent = gcp.storage.get_project_service_account_output(project=args.project)
            grant = gcp.kms.CryptoKeyIAMMember(
                f"{name}-key-storage-agent",
                crypto_key_id=key.id,
                role="roles/cloudkms.cryptoKeyEncrypterDecrypter",
                member=storage_agent.email_address.apply(lambda email: f"serviceAccount:{email}"),
                opts=child,
            )
            encryption = gcp.storage.BucketEncryptionArgs(default_kms_key_name=key.id)
            depends = [grant]
            self.kms_key_id = key.id

        self.bucket_names = {}
        self.bucket_urls = {}
        for role in BUCKET_ROLES:
            rules = [
                gcp.storage.BucketLifecycleRuleArgs(
                    action=gcp.storage.BucketLifecycleRuleActionArgs(type="Delete"),
                    condition=gcp.storage.BucketLifecycleRuleConditionArgs(
                        days_since_noncurrent_time=spec.noncurrent_version_days, with_state="ARCHIVED"
                    ),
                ),
                gcp.storage.BucketLifecycleRuleArgs(
                    action=gcp.storage.BucketLifecycleRuleActionArgs(type="AbortIncompleteMultipartUpload"),
                    condition=gcp.storage.BucketLifecycleRuleConditionArgs(age=7),
                ),
            ]
            if role == "prediction-logs":
                rules += [
                    gcp.storage.BucketLifecycleRuleArgs(
                        action=gcp.storage.BucketLifecycleRuleActionArgs(
                            type="SetStorageClass", storage_class="NEARLINE"
                        ),
                        condition=gcp.storage.BucketLifecycleRuleConditionArgs(age=spec.log_transition_days),
                    ),
                    gcp.storage.BucketLifecycleRuleArgs(
                        action=gcp.storage.BucketLifecycleRuleActionArgs(type="Delete"),
                        condition=gcp.storage.BucketLifecycleRuleConditionArgs(age=spec.log_expiration_days),
                    ),
                ]
            bucket = gcp.storage.Bucket(
                f"{name}-{role}",
                name=bucket_name(args.stem or name, role, args.project),
                project=args.project,
                location=args.location.upper(),
                uniform_bucket_level_access=True,
                public_access_prevention="enforced",
                versioning=gcp.storage.BucketVersioningArgs(enabled=True),
                lifecycle_rules=rules,
                encryption=encryption,
                force_destroy=spec.force_destroy,
                labels={**args.labels, "role": role},
                opts=pulumi.ResourceOptions(parent=self, depends_on=depends),
            )
            self.bucket_names[role] = bucket.name
            self.bucket_urls[role] = bucket.url

        self.register_outputs(
            {"bucket_names": self.bucket_names, "bucket_urls": self.bucket_urls, "kms_key_id": self.kms_key_id}
        )

"""S3 buckets for the model registry, datasets and prediction logs, encrypted with a customer key."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
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
    """Lifecycle, retention and destroy behaviour (from ``PlatformSpec.buckets``)."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags put on every bucket and on the KMS key."""
    key_alias: str = ""
    """Name of the key's KMS alias without ``alias/``: unique per account and Region, so it carries the
    environment (``<name>-<environment>-buckets``). Empty: ``<component name>-buckets-<random suffix>``."""
    stem: str = ""
    """Physical-name stem (``<name>-<environment>``): buckets are named ``<stem>-<role>-<account id>-<region>``
    (``components.bucket_names``) in the provider's account and Region. Empty: the component name."""


class RegistryBuckets(pulumi.ComponentResource):
    """Three private, versioned, KMS-encrypted, TLS-only buckets with lifecycle rules.

    Outputs: ``bucket_names`` / ``bucket_arns`` (by role) and ``kms_key_arn``.
    """

    bucket_names: dict[str, pulumi.Output[str]]
    bucket_arns: dict[str, pulumi.Output[str]]
    kms_key_arn: pulumi.Output[str]

    def __init__(self, name: str, args: RegistryBucketsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pulumi-mlops:aws:RegistryBuckets", name, None, opts)
        spec, tags = args.spec, dict(args.tags)
        child = pulumi.ResourceOptions(parent=self)

        key = aws.kms.Key(
            f"{name}-key",
            description=f"Encrypts the {name} registry buckets",
            enable_key_rotation=True,
            deletion_window_in_days=7 if spec.force_destroy else 30,
            tags=tags,
            opts=child,
        )
        alias: pulumi.Input[str]
        if args.key_alias:
            alias = f"alias/{args.key_alias}"
        else:
            suffix = random.RandomId(f"{name}-key-alias-suffix", byte_length=4, opts=child)
            alias = pulumi.Output.concat("alias/", name, "-buckets-", suffix.hex)
        aws.kms.Alias(f"{name}-key-alias", name=alias, target_key_id=key.key_id, opts=child)

        invoke = pulumi.InvokeOutputOptions(parent=self)
        account = aws.get_caller_identity_output(opts=invoke).account_id
        scope = pulumi.Output.concat(account, "-", aws.get_region_output(opts=invoke).region)
        stem = args.stem or name
        self.bucket_names = {}
        self.bucket_arns = {}
        for role in BUCKET_ROLES:
            physical = scope.apply(functools.partial(_physical_name, stem, role))
            bucket = self._bucket(name, role, physical, spec, key, tags)
            self.bucket_names[role] = bucket.bucket
            self.bucket_arns[role] = bucket.arn
        self.kms_key_arn = key.arn

        self.register_outputs(
            {"bucket_names": self.bucket_names, "bucket_arns": self.bucket_arns, "kms_key_arn": self.kms_key_arn}
        )

    def _bucket(
        self,
        name: str,
        role: str,
        physical: pulumi.Output[str],
        spec: BucketsSpec,
        key: aws.kms.Key,
        tags: dict[str, str],
    ) -> aws.s3.Bucket:
        base = f"{name}-{role}"
        bucket = aws.s3.Bucket(
            base,
            bucket=physical,
            force_destroy=spec.force_destroy,
            tags={**tags, "role": role},
            opts=pulumi.ResourceOptions(parent=self),
        )
        on_bucket = pulumi.ResourceOptions(parent=bucket)
        aws.s3.BucketPublicAccessBlock(
            f"{base}-public-access",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=on_bucket,
        )
        aws.s3.BucketVersioning(
            f"{base}-versioning",
            bucket=bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            opts=on_bucket,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{base}-encryption",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="aws:kms", kms_master_key_id=key.arn
                    ),
                    bucket_key_enabled=True,
                )
            ],
            opts=on_bucket,
        )
        tls_only = aws.iam.get_policy_document_output(statements=bucket.arn.apply(_deny_insecure_transport))
        aws.s3.BucketPolicy(f"{base}-tls-only", bucket=bucket.id, policy=tls_only.json, opts=on_bucket)

        rules = [
            aws.s3.BucketLifecycleConfigurationRuleArgs(
                id="expire-noncurrent-versions",
                status="Enabled",
                filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                    noncurrent_days=spec.noncurrent_version_days
                ),
                abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                    days_after_initiation=7
                ),
            )
        ]
        if role == "prediction-logs":
            rules.append(
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="age-out-logs",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    transitions=[
                        aws.s3.BucketLifecycleConfigurationRuleTransitionArgs(
                            days=spec.log_transition_days, storage_class="STANDARD_IA"
                        )
                    ],
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=spec.log_expiration_days),
                )
            )
        aws.s3.BucketLifecycleConfiguration(f"{base}-lifecycle", bucket=bucket.id, rules=rules, opts=on_bucket)
        return bucket


def _physical_name(stem: str, role: str, scope: str) -> str:
    return bucket_name(stem, role, scope)


def _deny_insecure_transport(bucket_arn: str) -> list[aws.iam.GetPolicyDocumentStatementArgs]:
    """The TLS-only statement: deny every S3 action on the bucket and its objects without TLS."""
    return [
        aws.iam.GetPolicyDocumentStatementArgs(
            sid="DenyInsecureTransport",
            effect="Deny",
            actions=["s3:*"],
            resources=[bucket_arn, f"{bucket_arn}/*"],
            principals=[aws.iam.GetPolicyDocumentStatementPrincipalArgs(type="*", identifiers=["*"])],
            conditions=[
                aws.iam.GetPolicyDocumentStatementConditionArgs(
                    test="Bool", variable="aws:SecureTransport", values=["false"]
                )
            ],
        )
    ]

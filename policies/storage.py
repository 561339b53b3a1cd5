"""Storage and data stores: buckets, KMS keys, PostgreSQL (RDS / Cloud SQL) and Redis (ElastiCache / Memorystore)."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable

from pulumi_policy import Policy, ResourceValidationArgs

from ._base import ADVISORY, as_list, config_value, get, is_true, iter_dicts, json_doc, profile_of, resource_policy

Report = Callable[[str], None]

S3_BUCKET = "aws:s3/bucket:Bucket"
S3_SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
S3_VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
S3_PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
S3_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
S3_ACL = "aws:s3/bucketAcl:BucketAcl"
AWS_KMS_KEY = "aws:kms/key:Key"
GCS_BUCKET = "gcp:storage/bucket:Bucket"
GCP_CRYPTO_KEY = "gcp:kms/cryptoKey:CryptoKey"
RDS_INSTANCE = "aws:rds/instance:Instance"
CLOUDSQL_INSTANCE = "gcp:sql/databaseInstance:DatabaseInstance"
ELASTICACHE_RG = "aws:elasticache/replicationGroup:ReplicationGroup"
MEMORYSTORE = "gcp:redis/instance:Instance"
AWS_SECRET = "aws:secretsmanager/secret:Secret"
GCP_SECRET = "gcp:secretmanager/secret:Secret"

RESOURCE_TYPES: tuple[str, ...] = (
    S3_BUCKET,
    S3_SSE,
    S3_VERSIONING,
    S3_PUBLIC_ACCESS_BLOCK,
    S3_POLICY,
    S3_ACL,
    AWS_KMS_KEY,
    GCS_BUCKET,
    GCP_CRYPTO_KEY,
    RDS_INSTANCE,
    CLOUDSQL_INSTANCE,
    ELASTICACHE_RG,
    MEMORYSTORE,
    AWS_SECRET,
    GCP_SECRET,
)
"""Every resource type a policy of this module checks."""

POLICIES: list[Policy] = []
_PUBLIC_ACLS = ("public-read", "public-read-write", "authenticated-read")


# --- S3 ---------------------------------------------------------------------------------------


@resource_policy(
    "s3-bucket-kms-encryption",
    "S3 buckets are encrypted by default with a customer-managed KMS key (aws:kms).",
    [S3_SSE],
    registry=POLICIES,
)
def _s3_kms(args: ResourceValidationArgs, report: Report) -> None:
    rules = list(iter_dicts(get(args.props, "rules")))
    if not rules:
        report("no encryption rule: add a rule with sseAlgorithm 'aws:kms' and a kmsMasterKeyId")
    for i, rule in enumerate(rules):
        algorithm = get(rule, "applyServerSideEncryptionByDefault.sseAlgorithm")
        if algorithm not in ("aws:kms", "aws:kms:dsse"):
            report(f"rules[{i}] uses sseAlgorithm {algorithm!r}: use 'aws:kms' with a customer-managed key")
        elif not get(rule, "applyServerSideEncryptionByDefault.kmsMasterKeyId"):
            report(f"rules[{i}] has no kmsMasterKeyId: name the customer-managed KMS key, not the AWS-managed one")


@resource_policy(
    "s3-bucket-versioning",
    "S3 buckets keep object versions (versioning Enabled).",
    [S3_VERSIONING],
    registry=POLICIES,
)
def _s3_versioning(args: ResourceValidationArgs, report: Report) -> None:
    status = get(args.props, "versioningConfiguration.status")
    if status != "Enabled":
        report(f"versioningConfiguration.status is {status!r}: set it to 'Enabled'")


@resource_policy(
    "s3-public-access-block",
    "S3 bucket public access blocks set all four flags.",
    [S3_PUBLIC_ACCESS_BLOCK],
    registry=POLICIES,
)
def _s3_pab(args: ResourceValidationArgs, report: Report) -> None:
    flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    off = [f for f in flags if not is_true(get(args.props, f))]
    if off:
        report(f"{', '.join(off)} not true: all four public access flags must be true")


def _denies_insecure_transport(statement: dict) -> bool:
    if statement.get("Effect") != "Deny":
        return False
    condition = statement.get("Condition") or {}
    for test in ("Bool", "BoolIfExists"):
        value = (condition.get(test) or {}).get("aws:SecureTransport")
        if value is not None and str(as_list(value)[0]).lower() == "false":
            return True
    return False


def _covers_bucket(statement: dict, bucket: str) -> bool:
    """The Deny is on every S3 action of the bucket and of every object in it."""
    actions = [str(a).lower() for a in as_list(statement.get("Action"))]
    if not any(a in ("*", "s3:*") for a in actions):
        return False
    resources = [str(r) for r in as_list(statement.get("Resource"))]
    targets = (f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/any/key")
    return all(
        any(
            fnmatch.fnmatchcase(t, r.replace("arn:aws-cn:", "arn:aws:").replace("arn:aws-us-gov:", "arn:aws:"))
            for r in resources
        )
        for t in targets
    )


@resource_policy(
    "s3-bucket-tls-only",
    "S3 bucket policies deny s3:* on the bucket and all its objects for requests made without TLS "
    "(aws:SecureTransport false).",
    [S3_POLICY],
    registry=POLICIES,
)
def _s3_tls(args: ResourceValidationArgs, report: Report) -> None:
    doc = json_doc(get(args.props, "policy"))
    if doc is None:
        report("policy is not a JSON document")
        return
    statements = [s for s in as_list(doc.get("Statement")) if isinstance(s, dict)]
    denies = [s for s in statements if _denies_insecure_transport(s)]
    bucket = str(get(args.props, "bucket", ""))
    if not denies:
        report("no Deny statement on aws:SecureTransport 'false': add the DenyInsecureTransport statement")
    elif not any(_covers_bucket(s, bucket) for s in denies):
        report(
            f"the Deny on aws:SecureTransport 'false' does not cover every action (s3:*) on arn:aws:s3:::{bucket} and "
            f"arn:aws:s3:::{bucket}/*: deny s3:* on the bucket and its objects"
        )


@resource_policy(
    "s3-bucket-no-public-acl",
    "S3 buckets and bucket ACLs never grant public or authenticated-users access.",
    [S3_BUCKET, S3_ACL],
    registry=POLICIES,
)
def _s3_acl(args: ResourceValidationArgs, report: Report) -> None:
    acl = get(args.props, "acl")
    if acl in _PUBLIC_ACLS:
        report(f"acl is {acl!r}: keep buckets private ('private' or no ACL)")
    for grant in iter_dicts(get(args.props, "accessControlPolicy.grants")):
        uri = str(get(grant, "grantee.uri", ""))
        if uri.endswith(("/AllUsers", "/AuthenticatedUsers")):
            report(f"a grant gives {uri.rsplit('/', 1)[-1]} access: remove it")


# --- GCS --------------------------------------------------------------------------------------


@resource_policy(
    "gcs-bucket-cmek",
    "GCS buckets are encrypted with a customer-managed Cloud KMS key (encryption.defaultKmsKeyName).",
    [GCS_BUCKET],
    config=("requireCmek",),
    registry=POLICIES,
)
def _gcs_cmek(args: ResourceValidationArgs, report: Report) -> None:
    if not config_value(args, "requireCmek"):
        return
    if not get(args.props, "encryption.defaultKmsKeyName"):
        report("encryption.defaultKmsKeyName is not set: encrypt the bucket with the platform's Cloud KMS key")


@resource_policy(
    "gcs-bucket-versioning",
    "GCS buckets keep object versions (versioning.enabled).",
    [GCS_BUCKET],
    registry=POLICIES,
)
def _gcs_versioning(args: ResourceValidationArgs, report: Report) -> None:
    if not is_true(get(args.props, "versioning.enabled")):
        report("versioning.enabled is not true: turn on object versioning")


@resource_policy(
    "gcs-public-access-prevention",
    "GCS buckets enforce public access prevention and uniform bucket-level access.",
    [GCS_BUCKET],
    registry=POLICIES,
)
def _gcs_public(args: ResourceValidationArgs, report: Report) -> None:
    prevention = get(args.props, "publicAccessPrevention")
    if prevention != "enforced":
        report(f"publicAccessPrevention is {prevention!r}: set it to 'enforced'")
    if not is_true(get(args.props, "uniformBucketLevelAccess")):
        report("uniformBucketLevelAccess is not true: use IAM only, no object ACLs")


# --- KMS --------------------------------------------------------------------------------------


@resource_policy(
    "kms-key-rotation",
    "Customer-managed KMS keys rotate automatically.",
    [AWS_KMS_KEY, GCP_CRYPTO_KEY],
    registry=POLICIES,
)
def _kms_rotation(args: ResourceValidationArgs, report: Report) -> None:
    if args.resource_type == AWS_KMS_KEY:
        spec = get(args.props, "customerMasterKeySpec") or get(args.props, "keySpec") or "SYMMETRIC_DEFAULT"
        if spec == "SYMMETRIC_DEFAULT" and not is_true(get(args.props, "enableKeyRotation")):
            report("enableKeyRotation is not true: turn on yearly automatic rotation")
    elif not get(args.props, "rotationPeriod"):
        report("rotationPeriod is not set: rotate the key at least yearly (e.g. '7776000s')")


# --- PostgreSQL -------------------------------------------------------------------------------


@resource_policy(
    "rds-storage-encrypted",
    "RDS instances encrypt their storage.",
    [RDS_INSTANCE],
    registry=POLICIES,
)
def _rds_encrypted(args: ResourceValidationArgs, report: Report) -> None:
    if not is_true(get(args.props, "storageEncrypted")):
        report("storageEncrypted is not true: encrypt the database storage (with the platform KMS key)")


@resource_policy(
    "rds-not-public",
    "RDS instances are not publicly accessible.",
    [RDS_INSTANCE],
    registry=POLICIES,
)
def _rds_private(args: ResourceValidationArgs, report: Report) -> None:
    if is_true(get(args.props, "publiclyAccessible")):
        report("publiclyAccessible is true: keep the database on private subnets only")


@resource_policy(
    "rds-deletion-protection-prod",
    "RDS instances in prod refuse deletion.",
    [RDS_INSTANCE],
    config=("profile",),
    registry=POLICIES,
)
def _rds_deletion(args: ResourceValidationArgs, report: Report) -> None:
    if profile_of(args) == "prod" and not is_true(get(args.props, "deletionProtection")):
        report("deletionProtection is not true in prod: turn it on")


@resource_policy(
    "rds-backups-enabled",
    "RDS instances keep automated backups (backupRetentionPeriod >= 1).",
    [RDS_INSTANCE],
    registry=POLICIES,
)
def _rds_backups(args: ResourceValidationArgs, report: Report) -> None:
    days = get(args.props, "backupRetentionPeriod")
    if days is None or float(days) < 1:
        report(f"backupRetentionPeriod is {days!r}: keep automated backups for at least 1 day")


@resource_policy(
    "rds-multi-az-prod",
    "RDS instances in prod run Multi-AZ.",
    [RDS_INSTANCE],
    level=ADVISORY,
    config=("profile",),
    registry=POLICIES,
)
def _rds_multi_az(args: ResourceValidationArgs, report: Report) -> None:
    if profile_of(args) == "prod" and not is_true(get(args.props, "multiAz")):
        report("multiAz is not true in prod: run a standby in a second zone")


@resource_policy(
    "cloudsql-private-ip",
    "Cloud SQL instances have no public IPv4 address (ipConfiguration.ipv4Enabled false).",
    [CLOUDSQL_INSTANCE],
    registry=POLICIES,
)
def _cloudsql_private(args: ResourceValidationArgs, report: Report) -> None:
    ipv4 = get(args.props, "settings.ipConfiguration.ipv4Enabled")
    if ipv4 is None or is_true(ipv4):
        report("settings.ipConfiguration.ipv4Enabled is not false: use a private IP only (privateNetwork)")


@resource_policy(
    "cloudsql-deletion-protection-prod",
    "Cloud SQL instances in prod refuse deletion.",
    [CLOUDSQL_INSTANCE],
    config=("profile",),
    registry=POLICIES,
)
def _cloudsql_deletion(args: ResourceValidationArgs, report: Report) -> None:
    if profile_of(args) != "prod":
        return
    # The provider's deletionProtection defaults to true; an explicit false is the violation.
    if get(args.props, "deletionProtection") is False or str(get(args.props, "deletionProtection")) == "false":
        report("deletionProtection is false in prod: leave it true")
    if not is_true(get(args.props, "settings.deletionProtectionEnabled")):
        report("settings.deletionProtectionEnabled is not true in prod: protect the instance in the API too")


@resource_policy(
    "cloudsql-backups-enabled",
    "Cloud SQL instances take automated backups.",
    [CLOUDSQL_INSTANCE],
    registry=POLICIES,
)
def _cloudsql_backups(args: ResourceValidationArgs, report: Report) -> None:
    if not is_true(get(args.props, "settings.backupConfiguration.enabled")):
        report("settings.backupConfiguration.enabled is not true: turn on automated backups")


@resource_policy(
    "cloudsql-require-ssl",
    "Cloud SQL instances accept encrypted connections only.",
    [CLOUDSQL_INSTANCE],
    level=ADVISORY,
    registry=POLICIES,
)
def _cloudsql_ssl(args: ResourceValidationArgs, report: Report) -> None:
    mode = get(args.props, "settings.ipConfiguration.sslMode")
    if mode not in ("ENCRYPTED_ONLY", "TRUSTED_CLIENT_CERTIFICATE_REQUIRED"):
        report(f"settings.ipConfiguration.sslMode is {mode!r}: set 'ENCRYPTED_ONLY'")


# --- Redis ------------------------------------------------------------------------------------


@resource_policy(
    "elasticache-encryption",
    "ElastiCache replication groups encrypt data at rest and in transit.",
    [ELASTICACHE_RG],
    registry=POLICIES,
)
def _elasticache_encryption(args: ResourceValidationArgs, report: Report) -> None:
    if not is_true(get(args.props, "atRestEncryptionEnabled")):
        report("atRestEncryptionEnabled is not true: encrypt data at rest")
    if not is_true(get(args.props, "transitEncryptionEnabled")):
        report("transitEncryptionEnabled is not true: require TLS between clients and Redis")


@resource_policy(
    "elasticache-auth",
    "ElastiCache replication groups require authentication (AUTH token or RBAC user groups).",
    [ELASTICACHE_RG],
    registry=POLICIES,
)
def _elasticache_auth(args: ResourceValidationArgs, report: Report) -> None:
    if not get(args.props, "authToken") and not as_list(get(args.props, "userGroupIds")):
        report("no authToken and no userGroupIds: require Redis AUTH")


@resource_policy(
    "memorystore-encryption-auth",
    "Memorystore Redis instances require AUTH and TLS (transitEncryptionMode SERVER_AUTHENTICATION).",
    [MEMORYSTORE],
    registry=POLICIES,
)
def _memorystore(args: ResourceValidationArgs, report: Report) -> None:
    if not is_true(get(args.props, "authEnabled")):
        report("authEnabled is not true: require Redis AUTH")
    mode = get(args.props, "transitEncryptionMode")
    if mode != "SERVER_AUTHENTICATION":
        report(f"transitEncryptionMode is {mode!r}: set 'SERVER_AUTHENTICATION' for TLS")


# --- secrets ----------------------------------------------------------------------------------


@resource_policy(
    "secrets-cmek",
    "Secrets Manager / Secret Manager secrets are encrypted with a customer-managed key.",
    [AWS_SECRET, GCP_SECRET],
    level=ADVISORY,
    registry=POLICIES,
)
def _secrets_cmek(args: ResourceValidationArgs, report: Report) -> None:
    if args.resource_type == AWS_SECRET:
        if not get(args.props, "kmsKeyId"):
            report("kmsKeyId is not set: encrypt the secret with the platform KMS key")
        return
    keys = [get(args.props, "replication.auto.customerManagedEncryption.kmsKeyName")]
    replicas = list(iter_dicts(get(args.props, "replication.userManaged.replicas")))
    keys += [get(r, "customerManagedEncryption.kmsKeyName") for r in replicas]
    if not any(keys) or (replicas and not all(keys[1:])):
        report("no customerManagedEncryption.kmsKeyName: encrypt the secret with the platform Cloud KMS key")

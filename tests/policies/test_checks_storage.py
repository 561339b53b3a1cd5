"""Exact messages and edge cases of the S3, GCS, KMS, database, Redis and secret checks (see ``exact.py``)."""

from __future__ import annotations

import pytest

from .exact import DELETE, Exact, changed, reported
from .test_resource_policies import TLS_DENY, _doc

SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
VERS = "aws:s3/bucketVersioning:BucketVersioning"
PAB = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
POLICY = "aws:s3/bucketPolicy:BucketPolicy"
ACL = "aws:s3/bucketAcl:BucketAcl"
S3 = "aws:s3/bucket:Bucket"
GCS = "gcp:storage/bucket:Bucket"
KMS = "aws:kms/key:Key"
CRYPTO_KEY = "gcp:kms/cryptoKey:CryptoKey"
RDS = "aws:rds/instance:Instance"
SQL = "gcp:sql/databaseInstance:DatabaseInstance"
EC = "aws:elasticache/replicationGroup:ReplicationGroup"
REDIS = "gcp:redis/instance:Instance"
AWS_SECRET = "aws:secretsmanager/secret:Secret"
GCP_SECRET = "gcp:secretmanager/secret:Secret"
TLS = "s3-bucket-tls-only"
NO_DENY = "no Deny statement on aws:SecureTransport 'false': add the DenyInsecureTransport statement"
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
NO_CMEK = "no customerManagedEncryption.kmsKeyName: encrypt the secret with the platform Cloud KMS key"
KEY = {"customerManagedEncryption": {"kmsKeyName": "projects/p/locations/l/keyRings/r/cryptoKeys/k"}}


def _deny(**changes: object) -> str:
    statement = {**TLS_DENY, **changes}
    return _doc({k: v for k, v in statement.items() if v is not DELETE})


def _replicas(*keys: bool) -> dict[str, object]:
    return {"userManaged": {"replicas": [{"location": f"l{i}", **(KEY if k else {})} for i, k in enumerate(keys)]}}


CASES = [
    Exact(
        "sse-no-rule",
        "s3-bucket-kms-encryption",
        SSE,
        changed(SSE, rules=[]),
        ["no encryption rule: add a rule with sseAlgorithm 'aws:kms' and a kmsMasterKeyId"],
    ),
    Exact(
        "sse-aes-and-aws-managed-key",
        "s3-bucket-kms-encryption",
        SSE,
        changed(
            SSE,
            rules=[
                {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}},
                {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms:dsse"}},
            ],
        ),
        [
            "rules[0] uses sseAlgorithm 'AES256': use 'aws:kms' with a customer-managed key",
            "rules[1] has no kmsMasterKeyId: name the customer-managed KMS key, not the AWS-managed one",
        ],
    ),
    Exact(
        "versioning-suspended",
        "s3-bucket-versioning",
        VERS,
        changed(VERS, versioningConfiguration__status="Suspended"),
        ["versioningConfiguration.status is 'Suspended': set it to 'Enabled'"],
    ),
    Exact(
        "public-access-block-two-off",
        "s3-public-access-block",
        PAB,
        changed(PAB, blockPublicPolicy=False, restrictPublicBuckets=DELETE),
        ["blockPublicPolicy, restrictPublicBuckets not true: all four public access flags must be true"],
    ),
    Exact("tls-policy-not-json", TLS, POLICY, {"bucket": "b", "policy": "{"}, ["policy is not a JSON document"]),
    Exact(
        "tls-deny-if-exists",
        TLS,
        POLICY,
        {"bucket": "b", "policy": _deny(Condition={"BoolIfExists": {"aws:SecureTransport": "false"}})},
        [],
    ),
    Exact(
        "tls-deny-on-other-condition",
        TLS,
        POLICY,
        {"bucket": "b", "policy": _deny(Condition={"Bool": {"aws:MultiFactorAuthPresent": "false"}})},
        [NO_DENY],
    ),
    Exact(
        "tls-deny-of-secure-requests",
        TLS,
        POLICY,
        {"bucket": "b", "policy": _deny(Condition={"Bool": {"aws:SecureTransport": ["true"]}})},
        [NO_DENY],
    ),
    Exact("tls-unconditional-deny", TLS, POLICY, {"bucket": "b", "policy": _deny(Condition=DELETE)}, [NO_DENY]),
    Exact("tls-deny-every-action", TLS, POLICY, {"bucket": "b", "policy": _deny(Action="*")}, []),
    Exact(
        "tls-deny-in-aws-cn",
        TLS,
        POLICY,
        {"bucket": "b", "policy": _deny(Resource=["arn:aws-cn:s3:::b", "arn:aws-cn:s3:::b/*"])},
        [],
    ),
    Exact(
        "tls-deny-in-aws-us-gov",
        TLS,
        POLICY,
        {"bucket": "b", "policy": _deny(Resource=["arn:aws-us-gov:s3:::b", "arn:aws-us-gov:s3:::b/*"])},
        [],
    ),
    Exact(
        "tls-deny-on-objects-only-without-bucket-name",
        TLS,
        POLICY,
        {"policy": _deny(Resource="arn:aws:s3:::b/*")},
        [
            "the Deny on aws:SecureTransport 'false' does not cover every action (s3:*) on arn:aws:s3::: and "
            "arn:aws:s3:::/*: deny s3:* on the bucket and its objects"
        ],
    ),
    Exact(
        "acl-and-public-grants",
        "s3-bucket-no-public-acl",
        ACL,
        changed(
            ACL,
            acl="authenticated-read",
            accessControlPolicy={
                "grants": [
                    {"grantee": {"type": "CanonicalUser", "id": "abc"}, "permission": "FULL_CONTROL"},
                    {"grantee": {"type": "Group", "uri": ALL_USERS}, "permission": "READ"},
                    {"grantee": {"type": "Group", "uri": AUTHENTICATED}, "permission": "READ"},
                ]
            },
        ),
        [
            "acl is 'authenticated-read': keep buckets private ('private' or no ACL)",
            "a grant gives AllUsers access: remove it",
            "a grant gives AuthenticatedUsers access: remove it",
        ],
    ),
    Exact(
        "gcs-cmek",
        "gcs-bucket-cmek",
        GCS,
        changed(GCS, encryption=DELETE),
        ["encryption.defaultKmsKeyName is not set: encrypt the bucket with the platform's Cloud KMS key"],
        config={"requireCmek": True},
    ),
    Exact("gcs-cmek-not-required", "gcs-bucket-cmek", GCS, changed(GCS, encryption=DELETE), [], {"requireCmek": False}),
    Exact(
        "gcs-versioning",
        "gcs-bucket-versioning",
        GCS,
        changed(GCS, versioning__enabled="false"),
        ["versioning.enabled is not true: turn on object versioning"],
    ),
    Exact(
        "gcs-public",
        "gcs-public-access-prevention",
        GCS,
        changed(GCS, publicAccessPrevention="inherited", uniformBucketLevelAccess=False),
        [
            "publicAccessPrevention is 'inherited': set it to 'enforced'",
            "uniformBucketLevelAccess is not true: use IAM only, no object ACLs",
        ],
    ),
    Exact(
        "kms-symmetric-without-rotation",
        "kms-key-rotation",
        KMS,
        changed(KMS, enableKeyRotation=DELETE),
        ["enableKeyRotation is not true: turn on yearly automatic rotation"],
    ),
    Exact(
        "kms-asymmetric-spec", "kms-key-rotation", KMS, changed(KMS, enableKeyRotation=DELETE, keySpec="RSA_2048"), []
    ),
    Exact(
        "kms-hmac-legacy-spec",
        "kms-key-rotation",
        KMS,
        changed(KMS, enableKeyRotation=DELETE, customerMasterKeySpec="HMAC_256"),
        [],
    ),
    Exact(
        "crypto-key-rotation",
        "kms-key-rotation",
        CRYPTO_KEY,
        changed(CRYPTO_KEY, rotationPeriod=DELETE),
        ["rotationPeriod is not set: rotate the key at least yearly (e.g. '7776000s')"],
    ),
    Exact(
        "rds-unencrypted",
        "rds-storage-encrypted",
        RDS,
        changed(RDS, storageEncrypted=False),
        ["storageEncrypted is not true: encrypt the database storage (with the platform KMS key)"],
    ),
    Exact(
        "rds-public",
        "rds-not-public",
        RDS,
        changed(RDS, publiclyAccessible=True),
        ["publiclyAccessible is true: keep the database on private subnets only"],
    ),
    Exact(
        "rds-deletion",
        "rds-deletion-protection-prod",
        RDS,
        changed(RDS, deletionProtection=False),
        ["deletionProtection is not true in prod: turn it on"],
    ),
    Exact(
        "rds-backups-unset",
        "rds-backups-enabled",
        RDS,
        changed(RDS, backupRetentionPeriod=DELETE),
        ["backupRetentionPeriod is None: keep automated backups for at least 1 day"],
    ),
    Exact(
        "rds-backups-zero",
        "rds-backups-enabled",
        RDS,
        changed(RDS, backupRetentionPeriod=0.0),
        ["backupRetentionPeriod is 0.0: keep automated backups for at least 1 day"],
    ),
    Exact("rds-backups-one-day", "rds-backups-enabled", RDS, changed(RDS, backupRetentionPeriod=1.0), []),
    Exact(
        "rds-single-az",
        "rds-multi-az-prod",
        RDS,
        changed(RDS, multiAz=False),
        ["multiAz is not true in prod: run a standby in a second zone"],
    ),
    Exact(
        "cloudsql-public-ip",
        "cloudsql-private-ip",
        SQL,
        changed(SQL, settings__ipConfiguration__ipv4Enabled=DELETE),
        ["settings.ipConfiguration.ipv4Enabled is not false: use a private IP only (privateNetwork)"],
    ),
    Exact(
        "cloudsql-deletion-off-as-string",
        "cloudsql-deletion-protection-prod",
        SQL,
        changed(SQL, deletionProtection="false", settings__deletionProtectionEnabled=False),
        [
            "deletionProtection is false in prod: leave it true",
            "settings.deletionProtectionEnabled is not true in prod: protect the instance in the API too",
        ],
    ),
    Exact(
        "cloudsql-deletion-in-dev",
        "cloudsql-deletion-protection-prod",
        SQL,
        changed(SQL, deletionProtection=False),
        [],
        config={"profile": "dev"},
    ),
    Exact(
        "cloudsql-backups",
        "cloudsql-backups-enabled",
        SQL,
        changed(SQL, settings__backupConfiguration__enabled=False),
        ["settings.backupConfiguration.enabled is not true: turn on automated backups"],
    ),
    Exact(
        "cloudsql-ssl",
        "cloudsql-require-ssl",
        SQL,
        changed(SQL, settings__ipConfiguration__sslMode="ALLOW_UNENCRYPTED_AND_ENCRYPTED"),
        ["settings.ipConfiguration.sslMode is 'ALLOW_UNENCRYPTED_AND_ENCRYPTED': set 'ENCRYPTED_ONLY'"],
    ),
    Exact(
        "cloudsql-client-certificates",
        "cloudsql-require-ssl",
        SQL,
        changed(SQL, settings__ipConfiguration__sslMode="TRUSTED_CLIENT_CERTIFICATE_REQUIRED"),
        [],
    ),
    Exact(
        "elasticache-unencrypted",
        "elasticache-encryption",
        EC,
        changed(EC, atRestEncryptionEnabled=DELETE, transitEncryptionEnabled=False),
        [
            "atRestEncryptionEnabled is not true: encrypt data at rest",
            "transitEncryptionEnabled is not true: require TLS between clients and Redis",
        ],
    ),
    Exact(
        "elasticache-no-auth",
        "elasticache-auth",
        EC,
        changed(EC, authToken=DELETE),
        ["no authToken and no userGroupIds: require Redis AUTH"],
    ),
    Exact("elasticache-user-groups", "elasticache-auth", EC, changed(EC, authToken=DELETE, userGroupIds=["mlops"]), []),
    Exact(
        "memorystore",
        "memorystore-encryption-auth",
        REDIS,
        changed(REDIS, authEnabled=False, transitEncryptionMode="DISABLED"),
        [
            "authEnabled is not true: require Redis AUTH",
            "transitEncryptionMode is 'DISABLED': set 'SERVER_AUTHENTICATION' for TLS",
        ],
    ),
    Exact(
        "aws-secret",
        "secrets-cmek",
        AWS_SECRET,
        changed(AWS_SECRET, kmsKeyId=DELETE),
        ["kmsKeyId is not set: encrypt the secret with the platform KMS key"],
    ),
    Exact("gcp-secret-auto-with-key", "secrets-cmek", GCP_SECRET, {"replication": {"auto": KEY}}, []),
    Exact("gcp-secret-auto-without-key", "secrets-cmek", GCP_SECRET, {"replication": {"auto": {}}}, [NO_CMEK]),
    Exact("gcp-secret-replicas-with-keys", "secrets-cmek", GCP_SECRET, {"replication": _replicas(True, True)}, []),
    Exact(
        "gcp-secret-first-replica-without",
        "secrets-cmek",
        GCP_SECRET,
        {"replication": _replicas(False, True)},
        [NO_CMEK],
    ),
    Exact(
        "gcp-secret-last-replica-without",
        "secrets-cmek",
        GCP_SECRET,
        {"replication": _replicas(True, False)},
        [NO_CMEK],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_the_check_reports_exactly(case: Exact) -> None:
    assert reported(case) == case.messages

"""Exact messages and edge cases of the Aurora/RDS, EBS, EFS, instance metadata, node group SSH and container
registry checks (see ``exact.py``)."""

from __future__ import annotations

import pytest
from pulumi_mlops.policies.registry import image_repository

from .exact import DELETE, Exact, changed, reported
from .test_aws_services import EBS, EBS_DEFAULT, EC2, EFS, LT, NG, NODE_CLASS, RDS_CLUSTER, RDS_INSTANCE

ECR = "aws:ecr/repository:Repository"
AR = "gcp:artifactregistry/repository:Repository"
IMG = "docker-build:index:Image"
IMDS = "ec2-imdsv2-required"
TOKENS_FIX = ": set 'required' so only IMDSv2 session requests are answered"
HOPS_UNSET = (
    "httpPutResponseHopLimit is not set: set 1 (Amazon Linux 2023 AMIs otherwise launch with 2, which lets pods "
    "read the node's credentials)"
)
NOT_VISIBLE = " (on the instance itself: its launch template's options are not visible here)"
OWN = {"imageRegistries": ["123456789012.dkr.ecr.us-east-1.amazonaws.com/mlops-prod/"]}
REPO = "123456789012.dkr.ecr.us-east-1.amazonaws.com/mlops-prod/runtime"

CASES = [
    Exact(
        "cluster-unencrypted",
        "rds-cluster-storage-encrypted",
        RDS_CLUSTER,
        {"storageEncrypted": False},
        [
            "storageEncrypted is not true: encrypt the cluster storage (it cannot be turned on after creation)",
            "kmsKeyId is not set: encrypt with the platform's customer-managed KMS key, not aws/rds",
        ],
    ),
    Exact(
        "cluster-instance-public",
        "rds-cluster-not-public",
        RDS_INSTANCE,
        {"publiclyAccessible": "true"},
        ["publiclyAccessible is true: keep the database on private subnets only (publiclyAccessible false)"],
    ),
    Exact(
        "cluster-deletion-prod",
        "rds-cluster-deletion-protection-prod",
        RDS_CLUSTER,
        {},
        ["deletionProtection is not true in prod: turn it on"],
    ),
    Exact(
        "cluster-backups-unset",
        "rds-cluster-backups-enabled",
        RDS_CLUSTER,
        {},
        ["backupRetentionPeriod is not set: keep automated backups for 1 to 35 days"],
    ),
    Exact(
        "cluster-backups-zero-days",
        "rds-cluster-backups-enabled",
        RDS_CLUSTER,
        {"backupRetentionPeriod": 0.0},
        ["backupRetentionPeriod is 0.0: keep automated backups for at least 1 day"],
    ),
    Exact("cluster-backups-one-day", "rds-cluster-backups-enabled", RDS_CLUSTER, {"backupRetentionPeriod": 1.0}, []),
    Exact(
        "cluster-iam-auth",
        "rds-cluster-iam-auth",
        RDS_CLUSTER,
        {},
        ["iamDatabaseAuthenticationEnabled is not true: let workloads sign in with IAM instead of passwords"],
    ),
    Exact(
        "ebs-unencrypted",
        "ebs-volume-encrypted",
        EBS,
        {"size": 100.0},
        [
            "encrypted is not true: encrypt the volume (unset follows the account's EBS default)",
            "kmsKeyId is not set: encrypt with the platform's customer-managed KMS key, not aws/ebs",
        ],
    ),
    Exact(
        "ebs-default-off-as-string",
        "ebs-encryption-by-default",
        EBS_DEFAULT,
        {"enabled": "false"},
        ["enabled is false: this turns off EBS encryption by default for the region; leave it true"],
    ),
    Exact("ebs-default-on-as-string", "ebs-encryption-by-default", EBS_DEFAULT, {"enabled": "true"}, []),
    Exact(
        "efs-unencrypted",
        "efs-encrypted",
        EFS,
        {},
        [
            "encrypted is not true: encrypt the file system (it cannot be turned on after creation)",
            "kmsKeyId is not set: encrypt with the platform's customer-managed KMS key, not aws/elasticfilesystem",
        ],
    ),
    Exact(
        "launch-template-unset-options",
        IMDS,
        LT,
        {"metadataOptions": {"httpEndpoint": "enabled"}},
        [f"metadataOptions.httpTokens is not set{TOKENS_FIX}", f"metadataOptions.{HOPS_UNSET}"],
    ),
    Exact(
        "launch-template-optional-tokens-two-hops",
        IMDS,
        LT,
        {"metadataOptions": {"httpTokens": "optional", "httpPutResponseHopLimit": 2.0}},
        [
            f"metadataOptions.httpTokens is 'optional'{TOKENS_FIX}",
            "metadataOptions.httpPutResponseHopLimit is 2: set 1 so pods cannot read the node's credentials (EKS Pod "
            "Identity and IRSA need no IMDS from pods)",
        ],
    ),
    Exact("launch-template-endpoint-off", IMDS, LT, {"metadataOptions": {"httpEndpoint": "disabled"}}, []),
    Exact(
        "instance-from-a-launch-template",
        IMDS,
        EC2,
        {"launchTemplate": {"id": "lt-1"}, "metadataOptions": {"httpPutResponseHopLimit": 1.0}},
        [f"metadataOptions.httpTokens is not set{TOKENS_FIX}{NOT_VISIBLE}"],
    ),
    Exact("node-class-defaults", IMDS, NODE_CLASS, {"spec": {"role": "r"}}, []),
    Exact(
        "node-class-optional-tokens",
        IMDS,
        NODE_CLASS,
        {"spec": {"metadataOptions": {"httpTokens": "optional"}}},
        [f"spec.metadataOptions.httpTokens is 'optional'{TOKENS_FIX}"],
    ),
    Exact(
        "node-group-ssh-security-group-only",
        "eks-node-group-no-ssh",
        NG,
        changed(NG, remoteAccess={"sourceSecurityGroupIds": ["sg-1"]}),
        ["remoteAccess opens SSH (port 22) to the nodes: remove it and reach nodes with SSM Session Manager"],
    ),
    Exact(
        "node-group-ssh-key-only",
        "eks-node-group-no-ssh",
        NG,
        changed(NG, remoteAccess={"ec2SshKey": "ops"}),
        [
            "remoteAccess.ec2SshKey without sourceSecurityGroupIds opens SSH (port 22) to 0.0.0.0/0: remove "
            "remoteAccess and reach nodes with SSM Session Manager"
        ],
    ),
    Exact("node-group-empty-remote-access", "eks-node-group-no-ssh", NG, changed(NG, remoteAccess={}), []),
    Exact(
        "ecr-mutability-defaults-to-mutable",
        "ecr-immutable-tags",
        ECR,
        changed(ECR, imageTagMutability=DELETE),
        ["imageTagMutability is 'MUTABLE': set 'IMMUTABLE' so a tag always names one image"],
    ),
    Exact(
        "ecr-scan",
        "ecr-scan-on-push",
        ECR,
        changed(ECR, imageScanningConfiguration__scanOnPush=False),
        ["imageScanningConfiguration.scanOnPush is not true: scan images for vulnerabilities on push"],
    ),
    Exact(
        "ecr-kms",
        "ecr-kms-encryption",
        ECR,
        changed(ECR, encryptionConfigurations=[{"encryptionType": "AES256"}]),
        ["no encryptionConfigurations with encryptionType 'KMS': encrypt images with the platform key"],
    ),
    Exact(
        "ar-format-defaults-to-docker",
        "artifact-registry-immutable-tags",
        AR,
        changed(AR, format=DELETE, dockerConfig=DELETE),
        ["dockerConfig.immutableTags is not true: make tags immutable"],
    ),
    Exact(
        "ar-maven-has-no-tags",
        "artifact-registry-immutable-tags",
        AR,
        changed(AR, format="MAVEN", dockerConfig=DELETE),
        [],
    ),
    Exact(
        "ar-cleanup",
        "artifact-registry-cleanup",
        AR,
        changed(AR, cleanupPolicies=[]),
        ["no cleanupPolicies: delete untagged images after registry.untagged_days"],
    ),
    Exact(
        "image-build-not-pushed-untagged",
        "image-build-pushes-to-own-registry",
        IMG,
        changed(IMG, push=False, tags=[]),
        [
            "push is not true: the build stays in the builder's cache and no workload can pull it; set push",
            "no tags: tag the build '<repository>:<version>' in the stack's registry so it is pushed there",
        ],
        config=OWN,
    ),
    Exact(
        "image-build-tags",
        "image-build-pushes-to-own-registry",
        IMG,
        changed(
            IMG,
            tags=[
                f"{REPO}@sha256:{'a' * 64}",
                "runtime:latest",
                "registry.example:5000/mlops-prod/runtime",
                f"{REPO}:0.1.0",
            ],
        ),
        [
            f"tag '{REPO}@sha256:{'a' * 64}' has no version: name one ('<repository>:<version>')",
            "tag 'runtime:latest' is 'latest': tag the version (the repositories' tags are immutable)",
            "tag 'runtime:latest' is outside the stack's own registry "
            "(123456789012.dkr.ecr.us-east-1.amazonaws.com/mlops-prod/): push to its repositories",
            "tag 'registry.example:5000/mlops-prod/runtime' has no version: name one ('<repository>:<version>')",
            "tag 'registry.example:5000/mlops-prod/runtime' is outside the stack's own registry "
            "(123456789012.dkr.ecr.us-east-1.amazonaws.com/mlops-prod/): push to its repositories",
        ],
        config=OWN,
    ),
    Exact(
        "ecr-immutable-with-exclusion",
        "ecr-immutable-tags",
        ECR,
        changed(ECR, imageTagMutability="IMMUTABLE_WITH_EXCLUSION"),
        [],
    ),
    Exact(
        "image-build-outside-both-registries",
        "image-build-pushes-to-own-registry",
        IMG,
        changed(IMG, tags=["ghcr.io/acme/runtime:0.1.0"]),
        [
            "tag 'ghcr.io/acme/runtime:0.1.0' is outside the stack's own registry (registry.example/a/, "
            "registry.example/b/): push to its repositories"
        ],
        config={"imageRegistries": ["registry.example/a/", "registry.example/b/"]},
    ),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_the_check_reports_exactly(case: Exact) -> None:
    assert reported(case) == case.messages


@pytest.mark.parametrize(
    ("image", "repository"),
    [
        (f"{REPO}:0.1.0", REPO),
        (f"{REPO}:0.1.0@sha256:{'b' * 64}", REPO),
        (f"{REPO}@sha256:{'b' * 64}", REPO),
        ("registry.example:5000/team/app", "registry.example:5000/team/app"),
        ("registry.example:5000/team/app:2", "registry.example:5000/team/app"),
        ("app:1", "app"),
        ("app", "app"),
    ],
)
def test_the_repository_of_an_image_drops_its_tag_and_digest_only(image: str, repository: str) -> None:
    assert image_repository(image) == repository

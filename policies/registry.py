"""Container registries: ECR and Artifact Registry keep tags immutable and scan what is pushed."""

from __future__ import annotations

from collections.abc import Callable

from pulumi_policy import Policy, ResourceValidationArgs

from ._base import ADVISORY, get, is_true, iter_dicts, resource_policy

Report = Callable[[str], None]

ECR_REPOSITORY = "aws:ecr/repository:Repository"
ARTIFACT_REPOSITORY = "gcp:artifactregistry/repository:Repository"

RESOURCE_TYPES: tuple[str, ...] = (ECR_REPOSITORY, ARTIFACT_REPOSITORY)
"""Every resource type a policy of this module checks."""

POLICIES: list[Policy] = []


@resource_policy(
    "ecr-immutable-tags",
    "ECR repositories make image tags immutable.",
    [ECR_REPOSITORY],
    registry=POLICIES,
)
def _ecr_immutable(args: ResourceValidationArgs, report: Report) -> None:
    mutability = get(args.props, "imageTagMutability", "MUTABLE")
    if mutability not in ("IMMUTABLE", "IMMUTABLE_WITH_EXCLUSION"):
        report(f"imageTagMutability is {mutability!r}: set 'IMMUTABLE' so a tag always names one image")


@resource_policy(
    "ecr-scan-on-push",
    "ECR repositories scan every image on push.",
    [ECR_REPOSITORY],
    registry=POLICIES,
)
def _ecr_scan(args: ResourceValidationArgs, report: Report) -> None:
    if not is_true(get(args.props, "imageScanningConfiguration.scanOnPush")):
        report("imageScanningConfiguration.scanOnPush is not true: scan images for vulnerabilities on push")


@resource_policy(
    "ecr-kms-encryption",
    "ECR repositories encrypt images with a KMS key.",
    [ECR_REPOSITORY],
    level=ADVISORY,
    registry=POLICIES,
)
def _ecr_kms(args: ResourceValidationArgs, report: Report) -> None:
    configs = list(iter_dicts(get(args.props, "encryptionConfigurations")))
    if not any(get(c, "encryptionType") == "KMS" for c in configs):
        report("no encryptionConfigurations with encryptionType 'KMS': encrypt images with the platform key")


@resource_policy(
    "artifact-registry-immutable-tags",
    "Artifact Registry Docker repositories make image tags immutable.",
    [ARTIFACT_REPOSITORY],
    registry=POLICIES,
)
def _ar_immutable(args: ResourceValidationArgs, report: Report) -> None:
    if get(args.props, "format", "DOCKER").upper() != "DOCKER":
        return
    if not is_true(get(args.props, "dockerConfig.immutableTags")):
        report("dockerConfig.immutableTags is not true: make tags immutable")


@resource_policy(
    "artifact-registry-cleanup",
    "Artifact Registry repositories delete old untagged images with cleanup policies.",
    [ARTIFACT_REPOSITORY],
    level=ADVISORY,
    registry=POLICIES,
)
def _ar_cleanup(args: ResourceValidationArgs, report: Report) -> None:
    if not list(iter_dicts(get(args.props, "cleanupPolicies"))):
        report("no cleanupPolicies: delete untagged images after registry.untagged_days")

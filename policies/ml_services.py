"""Managed ML services: SageMaker notebook instances, models, endpoint configurations and domains; Vertex AI
endpoints and Workbench instances. Each must keep data on customer-managed keys and stay off the public internet.

An endpoint configuration whose variants run on instance types with local NVMe storage (ml.g4dn, ml.g5, ml.p4d, the
``d`` families such as ml.m5d, ...) cannot take a KMS key: SageMaker encrypts those volumes in hardware and
``CreateEndpointConfig`` refuses a ``KmsKeyId`` (SageMaker API reference, CreateEndpointConfig).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from pulumi_policy import Policy, ResourceValidationArgs

from ._base import as_list, get, is_true, iter_dicts, resource_policy

__all__ = [
    "POLICIES",
    "RESOURCE_TYPES",
    "SAGEMAKER_DOMAIN",
    "SAGEMAKER_ENDPOINT_CONFIG",
    "SAGEMAKER_MODEL",
    "SAGEMAKER_NOTEBOOK",
    "VERTEX_ENDPOINT",
    "WORKBENCH_INSTANCE",
    "has_local_nvme",
]

Report = Callable[[str], None]

SAGEMAKER_NOTEBOOK = "aws:sagemaker/notebookInstance:NotebookInstance"
SAGEMAKER_MODEL = "aws:sagemaker/model:Model"
SAGEMAKER_ENDPOINT_CONFIG = "aws:sagemaker/endpointConfiguration:EndpointConfiguration"
SAGEMAKER_DOMAIN = "aws:sagemaker/domain:Domain"
VERTEX_ENDPOINT = "gcp:vertex/aiEndpoint:AiEndpoint"
WORKBENCH_INSTANCE = "gcp:workbench/instance:Instance"

RESOURCE_TYPES: tuple[str, ...] = (
    SAGEMAKER_NOTEBOOK,
    SAGEMAKER_MODEL,
    SAGEMAKER_ENDPOINT_CONFIG,
    SAGEMAKER_DOMAIN,
    VERTEX_ENDPOINT,
    WORKBENCH_INSTANCE,
)
"""Every resource type a policy of this module checks."""

POLICIES: list[Policy] = []

_NVME_FAMILIES = frozenset({"g5", "g6", "g6e", "p5", "p5e", "p5en", "trn1", "trn1n"})
"""ML instance families with local NVMe storage whose names carry no ``d`` attribute."""
_D_ATTRIBUTE = re.compile(r"^[a-z]+\d+[a-z]*d[a-z]*$")
"""Families with the ``d`` (local NVMe) attribute: m5d, c6id, g4dn, p3dn, p4d, p4de, ..."""


def has_local_nvme(instance_type: str) -> bool:
    """Whether a SageMaker instance type (``ml.g5.xlarge``) has local NVMe instance storage."""
    parts = instance_type.split(".")
    family = parts[1] if len(parts) == 3 and parts[0] == "ml" else parts[0]
    return family in _NVME_FAMILIES or bool(_D_ATTRIBUTE.match(family))


# --- SageMaker --------------------------------------------------------------------------------


@resource_policy(
    "sagemaker-notebook-no-direct-internet",
    "SageMaker notebook instances set directInternetAccess 'Disabled' and a subnetId.",
    [SAGEMAKER_NOTEBOOK],
    registry=POLICIES,
)
def _notebook_internet(args: ResourceValidationArgs, report: Report) -> None:
    access = get(args.props, "directInternetAccess", "Enabled")
    if access != "Disabled":
        report(f"directInternetAccess is {access!r}: set 'Disabled' and reach AWS through the VPC's endpoints")
    elif not get(args.props, "subnetId"):
        report("directInternetAccess is 'Disabled' without a subnetId: SageMaker refuses it; name a private subnet")


@resource_policy(
    "sagemaker-notebook-no-root-access",
    "SageMaker notebook instances set rootAccess 'Disabled'.",
    [SAGEMAKER_NOTEBOOK],
    registry=POLICIES,
)
def _notebook_root(args: ResourceValidationArgs, report: Report) -> None:
    access = get(args.props, "rootAccess", "Enabled")
    if access != "Disabled":
        report(f"rootAccess is {access!r}: set 'Disabled' (lifecycle configurations still run as root)")


@resource_policy(
    "sagemaker-notebook-kms",
    "SageMaker notebook instances name a customer-managed kmsKeyId for their storage volume.",
    [SAGEMAKER_NOTEBOOK],
    registry=POLICIES,
)
def _notebook_kms(args: ResourceValidationArgs, report: Report) -> None:
    if not get(args.props, "kmsKeyId"):
        report("kmsKeyId is not set: encrypt the notebook's ML storage volume with the platform KMS key")


@resource_policy(
    "sagemaker-model-network-isolation",
    "SageMaker models set enableNetworkIsolation true.",
    [SAGEMAKER_MODEL],
    registry=POLICIES,
)
def _model_isolation(args: ResourceValidationArgs, report: Report) -> None:
    if not is_true(get(args.props, "enableNetworkIsolation")):
        report("enableNetworkIsolation is not true: the model container could call out to any network; isolate it")


@resource_policy(
    "sagemaker-model-vpc",
    "SageMaker models set vpcConfig with subnets and securityGroupIds.",
    [SAGEMAKER_MODEL],
    registry=POLICIES,
)
def _model_vpc(args: ResourceValidationArgs, report: Report) -> None:
    missing = [k for k in ("subnets", "securityGroupIds") if not as_list(get(args.props, f"vpcConfig.{k}"))]
    if missing:
        report(f"vpcConfig lacks {', '.join(missing)}: run the model in the platform's private subnets")


def _variants(props: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [*iter_dicts(get(props, "productionVariants")), *iter_dicts(get(props, "shadowProductionVariants"))]


@resource_policy(
    "sagemaker-endpoint-config-kms",
    "SageMaker endpoint configurations name a kmsKeyArn, unless a variant runs on an instance type with local NVMe "
    "storage (which refuses one) or every variant is serverless.",
    [SAGEMAKER_ENDPOINT_CONFIG],
    registry=POLICIES,
)
def _endpoint_kms(args: ResourceValidationArgs, report: Report) -> None:
    variants = _variants(args.props)
    nvme = sorted({str(t) for v in variants if (t := get(v, "instanceType")) and has_local_nvme(str(t))})
    key = get(args.props, "kmsKeyArn")
    if nvme:
        if key:
            report(
                f"kmsKeyArn is set but {', '.join(nvme)} has local NVMe storage: CreateEndpointConfig fails; drop "
                "kmsKeyArn (those volumes are encrypted in hardware) or use an EBS-backed instance type"
            )
        return
    if variants and all(get(v, "serverlessConfig") is not None for v in variants):
        return
    if not key:
        report("kmsKeyArn is not set: encrypt the endpoint instances' storage volumes with the platform KMS key")


@resource_policy(
    "sagemaker-domain-vpc-only",
    "SageMaker domains set appNetworkAccessType 'VpcOnly'.",
    [SAGEMAKER_DOMAIN],
    registry=POLICIES,
)
def _domain_vpc_only(args: ResourceValidationArgs, report: Report) -> None:
    mode = get(args.props, "appNetworkAccessType", "PublicInternetOnly")
    if mode != "VpcOnly":
        report(f"appNetworkAccessType is {mode!r}: set 'VpcOnly' so Studio apps reach the internet only via the VPC")


# --- Vertex AI --------------------------------------------------------------------------------


@resource_policy(
    "vertex-endpoint-cmek",
    "Vertex AI endpoints set encryptionSpec.kmsKeyName.",
    [VERTEX_ENDPOINT],
    registry=POLICIES,
)
def _vertex_cmek(args: ResourceValidationArgs, report: Report) -> None:
    if not get(args.props, "encryptionSpec.kmsKeyName"):
        report("encryptionSpec.kmsKeyName is not set: encrypt the endpoint with the platform's Cloud KMS key")


@resource_policy(
    "vertex-endpoint-private",
    "Vertex AI endpoints are private: they set network (VPC peering) or privateServiceConnectConfig"
    ".enablePrivateServiceConnect true.",
    [VERTEX_ENDPOINT],
    registry=POLICIES,
)
def _vertex_private(args: ResourceValidationArgs, report: Report) -> None:
    if get(args.props, "network") or is_true(
        get(args.props, "privateServiceConnectConfig.enablePrivateServiceConnect")
    ):
        return
    report(
        "neither network nor privateServiceConnectConfig.enablePrivateServiceConnect is set: the endpoint is served "
        "on a public address; peer it with the platform network or use Private Service Connect"
    )


def _disk_problems(disk: Any, where: str) -> list[str]:
    encryption = get(disk, "diskEncryption", "GMEK")
    if encryption != "CMEK":
        return [f"{where}.diskEncryption is {encryption!r}: set 'CMEK' with {where}.kmsKey"]
    if not get(disk, "kmsKey"):
        return [f"{where}.kmsKey is not set: name the platform's Cloud KMS key"]
    return []


@resource_policy(
    "workbench-instance-cmek",
    "Vertex AI Workbench instances encrypt gceSetup.bootDisk and gceSetup.dataDisks with diskEncryption 'CMEK' "
    "and a kmsKey.",
    [WORKBENCH_INSTANCE],
    registry=POLICIES,
)
def _workbench_cmek(args: ResourceValidationArgs, report: Report) -> None:
    # Every instance gets a boot and a data disk; unset blocks mean Google-managed keys.
    for where in ("gceSetup.bootDisk", "gceSetup.dataDisks"):
        for problem in _disk_problems(get(args.props, where, {}), where):
            report(problem)


@resource_policy(
    "workbench-instance-no-public-ip",
    "Vertex AI Workbench instances set gceSetup.disablePublicIp true.",
    [WORKBENCH_INSTANCE],
    registry=POLICIES,
)
def _workbench_public_ip(args: ResourceValidationArgs, report: Report) -> None:
    if not is_true(get(args.props, "gceSetup.disablePublicIp")):
        report("gceSetup.disablePublicIp is not true: the VM gets an external IP; set it true (use Cloud NAT)")

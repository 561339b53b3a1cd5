"""Policies of ``ml_services``: silent on a valid baseline, firing when one field is broken.

The baselines are built with the provider SDK's own resource classes under mocks, so their props are the wire format
the engine sends (a policy reading a misspelt key fails the silent-baseline test).
"""

from __future__ import annotations

import copy

import pulumi_aws as aws
import pulumi_gcp as gcp
import pytest
from pulumi_mlops.policies import ALL_POLICIES, ml_services
from pulumi_mlops.policies.ml_services import has_local_nvme
from pulumi_policy import ResourceValidationPolicy

from pulumi_mlops.preview import run_program

from .test_resource_policies import DELETE, TAGS, Case, Props, _set, run

NOTEBOOK = "aws:sagemaker/notebookInstance:NotebookInstance"
MODEL = "aws:sagemaker/model:Model"
ENDPOINT_CONFIG = "aws:sagemaker/endpointConfiguration:EndpointConfiguration"
DOMAIN = "aws:sagemaker/domain:Domain"
VERTEX = "gcp:vertex/aiEndpoint:AiEndpoint"
WORKBENCH = "gcp:workbench/instance:Instance"
KEY = "arn:aws:kms:us-east-1:123456789012:key/0b6c5d1e-1111-2222-3333-444455556666"
CMEK = "projects/acme-ml/locations/europe-west4/keyRings/mlops/cryptoKeys/data"
ROLE = "arn:aws:iam::123456789012:role/sagemaker"
SUBNETS = ["subnet-1", "subnet-2"]


def _program() -> None:
    aws.sagemaker.NotebookInstance(
        "explore",
        role_arn=ROLE,
        instance_type="ml.t3.medium",
        direct_internet_access="Disabled",
        root_access="Disabled",
        subnet_id="subnet-1",
        security_groups=["sg-1"],
        kms_key_id=KEY,
        tags=TAGS,
    )
    aws.sagemaker.Model(
        "churn",
        execution_role_arn=ROLE,
        primary_container=aws.sagemaker.ModelPrimaryContainerArgs(
            image="123456789012.dkr.ecr.us-east-1.amazonaws.com/mlops-prod/runtime:0.1.0",
            model_data_url="s3://models/churn/model.tar.gz",
        ),
        enable_network_isolation=True,
        vpc_config=aws.sagemaker.ModelVpcConfigArgs(subnets=SUBNETS, security_group_ids=["sg-1"]),
        tags=TAGS,
    )
    aws.sagemaker.EndpointConfiguration(
        "churn",
        kms_key_arn=KEY,
        production_variants=[
            aws.sagemaker.EndpointConfigurationProductionVariantArgs(
                model_name="churn", variant_name="primary", instance_type="ml.m5.large", initial_instance_count=2
            )
        ],
        tags=TAGS,
    )
    aws.sagemaker.Domain(
        "studio",
        domain_name="mlops",
        auth_mode="IAM",
        vpc_id="vpc-1",
        subnet_ids=SUBNETS,
        app_network_access_type="VpcOnly",
        kms_key_id=KEY,
        default_user_settings=aws.sagemaker.DomainDefaultUserSettingsArgs(execution_role=ROLE),
        tags=TAGS,
    )
    gcp.vertex.AiEndpoint(
        "churn",
        name="churn",
        display_name="churn",
        location="europe-west4",
        network="projects/123456789012/global/networks/mlops",
        encryption_spec=gcp.vertex.AiEndpointEncryptionSpecArgs(kms_key_name=CMEK),
        labels=TAGS,
    )
    gcp.workbench.Instance(
        "explore",
        location="europe-west4-a",
        gce_setup=gcp.workbench.InstanceGceSetupArgs(
            machine_type="e2-standard-4",
            disable_public_ip=True,
            boot_disk=gcp.workbench.InstanceGceSetupBootDiskArgs(disk_encryption="CMEK", kms_key=CMEK),
            data_disks=gcp.workbench.InstanceGceSetupDataDisksArgs(disk_encryption="CMEK", kms_key=CMEK),
        ),
        labels=TAGS,
    )


@pytest.fixture(scope="module")
def baselines() -> dict[str, Props]:
    graph = run_program(_program, {})
    return {r.type: r.props for r in graph.resources.values() if r.custom}


V0 = "productionVariants.0"

CASES = [
    Case(
        "sagemaker-notebook-no-direct-internet",
        NOTEBOOK,
        _set("directInternetAccess", DELETE),
        "directInternetAccess is 'Enabled'",
    ),
    Case(
        "sagemaker-notebook-no-direct-internet",
        NOTEBOOK,
        _set("subnetId", DELETE),
        "without a subnetId",
        id="no-subnet",
    ),
    Case("sagemaker-notebook-no-root-access", NOTEBOOK, _set("rootAccess", "Enabled"), "rootAccess is 'Enabled'"),
    Case("sagemaker-notebook-kms", NOTEBOOK, _set("kmsKeyId", DELETE), "kmsKeyId is not set"),
    Case(
        "sagemaker-model-network-isolation",
        MODEL,
        _set("enableNetworkIsolation", False),
        "enableNetworkIsolation is not true",
    ),
    Case("sagemaker-model-vpc", MODEL, _set("vpcConfig", DELETE), "vpcConfig lacks subnets, securityGroupIds"),
    Case("sagemaker-model-vpc", MODEL, _set("vpcConfig.subnets", []), "vpcConfig lacks subnets", id="no-subnets"),
    Case("sagemaker-endpoint-config-kms", ENDPOINT_CONFIG, _set("kmsKeyArn", DELETE), "kmsKeyArn is not set"),
    Case(
        "sagemaker-endpoint-config-kms",
        ENDPOINT_CONFIG,
        _set(f"{V0}.instanceType", "ml.g5.xlarge"),
        "ml.g5.xlarge has local NVMe storage: CreateEndpointConfig fails",
        id="nvme-with-key",
    ),
    Case(
        "sagemaker-domain-vpc-only",
        DOMAIN,
        _set("appNetworkAccessType", "PublicInternetOnly"),
        "appNetworkAccessType is 'PublicInternetOnly'",
    ),
    Case(
        "sagemaker-domain-vpc-only",
        DOMAIN,
        _set("appNetworkAccessType", DELETE),
        "set 'VpcOnly'",
        id="unset",
    ),
    Case("vertex-endpoint-cmek", VERTEX, _set("encryptionSpec", DELETE), "encryptionSpec.kmsKeyName is not set"),
    Case("vertex-endpoint-private", VERTEX, _set("network", DELETE), "served on a public address"),
    Case(
        "workbench-instance-cmek",
        WORKBENCH,
        _set("gceSetup.bootDisk", DELETE),
        "gceSetup.bootDisk.diskEncryption is 'GMEK'",
    ),
    Case(
        "workbench-instance-cmek",
        WORKBENCH,
        _set("gceSetup.dataDisks.kmsKey", DELETE),
        "gceSetup.dataDisks.kmsKey is not set",
        id="data-disk-key",
    ),
    Case(
        "workbench-instance-no-public-ip",
        WORKBENCH,
        _set("gceSetup.disablePublicIp", False),
        "gceSetup.disablePublicIp is not true",
    ),
]

MODULE_POLICIES = sorted(p.name for p in ml_services.POLICIES)
RESOURCE_POLICIES = sorted(p.name for p in ALL_POLICIES if isinstance(p, ResourceValidationPolicy))


def _case_id(case: Case) -> str:
    return f"{case.policy}{'-' + case.id if case.id else ''}"


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_policy_is_silent_on_the_baseline(baselines: dict[str, Props], case: Case) -> None:
    assert run(case.policy, case.type, baselines[case.type], case.config) == []


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_policy_fires_on_the_broken_field(baselines: dict[str, Props], case: Case) -> None:
    type_, props = case.mutation(case.type, copy.deepcopy(baselines[case.type]))
    messages = run(case.policy, type_, props, case.config)
    assert any(case.fragment in m for m in messages), messages


def test_every_policy_of_the_module_has_a_case() -> None:
    assert sorted({c.policy for c in CASES}) == MODULE_POLICIES


def test_baselines_pass_every_policy_of_the_pack(baselines: dict[str, Props]) -> None:
    assert set(baselines) == set(ml_services.RESOURCE_TYPES)
    for type_, props in baselines.items():
        for name in RESOURCE_POLICIES:
            assert run(name, type_, props, {"environment": "prod"}) == [], (name, type_)


@pytest.mark.parametrize(
    ("instance_type", "nvme"),
    [
        ("ml.g4dn.xlarge", True),
        ("ml.g5.2xlarge", True),
        ("ml.p4d.24xlarge", True),
        ("ml.m5d.large", True),
        ("ml.c6id.xlarge", True),
        ("ml.m5.large", False),
        ("ml.c5.xlarge", False),
        ("ml.inf2.xlarge", False),
        ("ml.g6e.xlarge", True),
        # the family decides, with or without SageMaker's ml. prefix
        ("g5.xlarge", True),
        ("m5d.large", True),
        ("m5.large", False),
    ],
)
def test_local_nvme_instance_types(instance_type: str, nvme: bool) -> None:
    assert has_local_nvme(instance_type) is nvme


def test_nvme_variants_need_no_key(baselines: dict[str, Props]) -> None:
    props = copy.deepcopy(baselines[ENDPOINT_CONFIG])
    del props["kmsKeyArn"]
    props["productionVariants"][0]["instanceType"] = "ml.g4dn.xlarge"
    assert run("sagemaker-endpoint-config-kms", ENDPOINT_CONFIG, props, {}) == []


def test_serverless_variants_need_no_key_but_instances_do(baselines: dict[str, Props]) -> None:
    props = copy.deepcopy(baselines[ENDPOINT_CONFIG])
    del props["kmsKeyArn"]
    serverless = {"modelName": "churn", "variantName": "serverless", "serverlessConfig": {"maxConcurrency": 5.0}}
    props["productionVariants"] = [serverless]
    assert run("sagemaker-endpoint-config-kms", ENDPOINT_CONFIG, props, {}) == []
    props["shadowProductionVariants"] = [{"modelName": "churn", "variantName": "shadow", "instanceType": "ml.m5.large"}]
    assert run("sagemaker-endpoint-config-kms", ENDPOINT_CONFIG, props, {}) == [
        "kmsKeyArn is not set: encrypt the endpoint instances' storage volumes with the platform KMS key"
    ]


def test_private_service_connect_makes_an_endpoint_private(baselines: dict[str, Props]) -> None:
    props = {k: v for k, v in baselines[VERTEX].items() if k != "network"}
    props["privateServiceConnectConfig"] = {"enablePrivateServiceConnect": True, "projectAllowlists": ["acme-ml"]}
    assert run("vertex-endpoint-private", VERTEX, props, {}) == []

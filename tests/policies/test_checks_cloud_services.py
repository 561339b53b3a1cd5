"""Exact messages and edge cases of the GKE, GCS, Artifact Registry, SageMaker, Vertex AI, tagging and
resource-policy checks (see ``exact.py``)."""

from __future__ import annotations

import json

import pytest
from pulumi_mlops.policies._documents import all_resources_arn
from pulumi_mlops.policies.resource_access import resource_documents

from .exact import DELETE, Exact, changed, reported
from .test_resource_policies import TAGS, _doc

GKE = "gcp:container/cluster:Cluster"
NP = "gcp:container/nodePool:NodePool"
ACCESS_CONTROL = "gcp:storage/bucketAccessControl:BucketAccessControl"
AR_POLICY = "gcp:artifactregistry/repositoryIamPolicy:RepositoryIamPolicy"
AR_BINDING = "gcp:artifactregistry/repositoryIamBinding:RepositoryIamBinding"
NOTEBOOK = "aws:sagemaker/notebookInstance:NotebookInstance"
MODEL = "aws:sagemaker/model:Model"
ENDPOINT_CONFIG = "aws:sagemaker/endpointConfiguration:EndpointConfiguration"
DOMAIN = "aws:sagemaker/domain:Domain"
VERTEX = "gcp:vertex/aiEndpoint:AiEndpoint"
WORKBENCH = "gcp:workbench/instance:Instance"
S3 = "aws:s3/bucket:Bucket"
GCS = "gcp:storage/bucket:Bucket"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
CLOUD_PLATFORM = ["https://www.googleapis.com/auth/cloud-platform"]
SA_POLICY = "gke-nodes-not-default-service-account"
SA_FIX = (
    " with the cloud-platform scope: the Compute Engine default account (often Editor on the project) would reach "
    "every API; name the platform's node service account"
)
PUBLIC_FIX = (
    ": name the principals, or limit the callers with a condition on aws:SourceVpce, aws:SourceVpc, "
    "aws:PrincipalOrgID, aws:SourceAccount, aws:PrincipalAccount, aws:SourceArn, aws:PrincipalArn or a narrow "
    "aws:SourceIp"
)


def _public(*actions: str) -> str:
    return _doc({"Effect": "Allow", "Principal": "*", "Action": list(actions), "Resource": "arn:aws:s3:::b/*"})


CASES = [
    Exact(
        "gke-legacy-abac",
        "gke-no-legacy-abac",
        GKE,
        changed(GKE, enableLegacyAbac=True),
        ["enableLegacyAbac is true: legacy ABAC grants broad static permissions beside RBAC; set it false"],
    ),
    Exact(
        "gke-alpha",
        "gke-no-alpha-features",
        GKE,
        changed(GKE, enableKubernetesAlpha="true"),
        ["enableKubernetesAlpha is true: alpha clusters get no support or upgrades and expire after 30 days"],
    ),
    Exact(
        "gke-client-certificate",
        "gke-no-client-certificate",
        GKE,
        changed(GKE, masterAuth__clientCertificateConfig__issueClientCertificate=True),
        [
            "masterAuth.clientCertificateConfig.issueClientCertificate is true: a client certificate is a credential "
            "that cannot be revoked; set it false and authenticate with Google identities"
        ],
    ),
    Exact(
        "gke-sa-every-config-after-a-narrow-one",
        SA_POLICY,
        GKE,
        changed(
            GKE,
            nodeConfig={"oauthScopes": ["https://www.googleapis.com/auth/devstorage.read_only"]},
            nodePools=[{"nodeConfig": {"oauthScopes": CLOUD_PLATFORM, "serviceAccount": "default"}}],
            clusterAutoscaling={"autoProvisioningDefaults": {"oauthScopes": ["cloud-platform"]}},
        ),
        [
            f"nodePools[0].nodeConfig.serviceAccount is 'default'{SA_FIX}",
            f"clusterAutoscaling.autoProvisioningDefaults.serviceAccount is not set{SA_FIX}",
        ],
    ),
    Exact(
        "gke-sa-pool",
        SA_POLICY,
        NP,
        changed(
            NP,
            nodeConfig__oauthScopes=CLOUD_PLATFORM,
            nodeConfig__serviceAccount="1234-compute@developer.gserviceaccount.com",
        ),
        [f"nodeConfig.serviceAccount is '1234-compute@developer.gserviceaccount.com'{SA_FIX}"],
    ),
    Exact(
        "gcs-access-control-public-entity",
        "gcs-acl-not-public",
        ACCESS_CONTROL,
        {"bucket": "b", "entity": "allUsers", "role": "READER"},
        ["entity is 'allUsers': grant READER to named users or groups only"],
    ),
    Exact(
        "artifact-registry-policy-not-json",
        "artifact-registry-not-public",
        AR_POLICY,
        {"repository": "r", "policyData": "not json"},
        ["policyData is not a JSON IAM policy: build it with gcp.organizations.get_iam_policy"],
    ),
    Exact(
        "artifact-registry-binding-public",
        "artifact-registry-not-public",
        AR_BINDING,
        {"repository": "r", "role": "roles/artifactregistry.reader", "members": ["allUsers", "allAuthenticatedUsers"]},
        [
            "roles/artifactregistry.reader granted to allUsers, allAuthenticatedUsers: anyone could pull the images; "
            "grant named principals only"
        ],
    ),
    Exact(
        "notebook-disabled-without-subnet",
        "sagemaker-notebook-no-direct-internet",
        NOTEBOOK,
        {"directInternetAccess": "Disabled"},
        ["directInternetAccess is 'Disabled' without a subnetId: SageMaker refuses it; name a private subnet"],
    ),
    Exact(
        "notebook-root-access-defaults-to-enabled",
        "sagemaker-notebook-no-root-access",
        NOTEBOOK,
        {},
        ["rootAccess is 'Enabled': set 'Disabled' (lifecycle configurations still run as root)"],
    ),
    Exact(
        "notebook-kms",
        "sagemaker-notebook-kms",
        NOTEBOOK,
        {},
        ["kmsKeyId is not set: encrypt the notebook's ML storage volume with the platform KMS key"],
    ),
    Exact(
        "model-isolation",
        "sagemaker-model-network-isolation",
        MODEL,
        {"enableNetworkIsolation": False},
        ["enableNetworkIsolation is not true: the model container could call out to any network; isolate it"],
    ),
    Exact(
        "endpoint-kms-on-nvme-variants",
        "sagemaker-endpoint-config-kms",
        ENDPOINT_CONFIG,
        {
            "kmsKeyArn": "arn:aws:kms:k",
            "productionVariants": [{"instanceType": "ml.g5.xlarge"}, {"instanceType": "ml.m5d.large"}],
        },
        [
            "kmsKeyArn is set but ml.g5.xlarge, ml.m5d.large has local NVMe storage: CreateEndpointConfig fails; "
            "drop kmsKeyArn (those volumes are encrypted in hardware) or use an EBS-backed instance type"
        ],
    ),
    Exact(
        "domain-access-defaults-to-public",
        "sagemaker-domain-vpc-only",
        DOMAIN,
        {},
        [
            "appNetworkAccessType is 'PublicInternetOnly': set 'VpcOnly' so Studio apps reach the internet only via "
            "the VPC"
        ],
    ),
    Exact(
        "vertex-cmek",
        "vertex-endpoint-cmek",
        VERTEX,
        {"network": "n"},
        ["encryptionSpec.kmsKeyName is not set: encrypt the endpoint with the platform's Cloud KMS key"],
    ),
    Exact(
        "vertex-public",
        "vertex-endpoint-private",
        VERTEX,
        {"privateServiceConnectConfig": {"enablePrivateServiceConnect": False}},
        [
            "neither network nor privateServiceConnectConfig.enablePrivateServiceConnect is set: the endpoint is "
            "served on a public address; peer it with the platform network or use Private Service Connect"
        ],
    ),
    Exact(
        "workbench-public-ip",
        "workbench-instance-no-public-ip",
        WORKBENCH,
        {"gceSetup": {"disablePublicIp": False}},
        ["gceSetup.disablePublicIp is not true: the VM gets an external IP; set it true (use Cloud NAT)"],
    ),
    Exact(
        "gcp-provider-default-labels-count",
        "required-tags",
        GCS,
        changed(GCS, labels={"role": "models"}),
        [],
        provider={"defaultLabels": json.dumps(TAGS)},
    ),
    Exact(
        "gcp-without-default-labels",
        "required-tags",
        GCS,
        changed(GCS, labels={"role": "models"}),
        ["labels lacks environment, owner, cost-center: pass PlatformSpec.labels"],
        provider={"region": "europe-west4"},
    ),
    Exact(
        "environment-unset-checks-nothing",
        "environment-tag-matches",
        S3,
        changed(S3, tags__environment="dev"),
        [],
        config={"environment": ""},
    ),
    Exact(
        "environment-tag-absent-is-for-required-tags",
        "environment-tag-matches",
        S3,
        changed(S3, tags__environment=DELETE),
        [],
        config={"environment": "prod"},
    ),
    Exact(
        "bucket-policy-public-four-actions",
        "aws-resource-policy-not-public",
        BUCKET_POLICY,
        {"bucket": "b", "policy": _public("s3:GetObject", "s3:PutObject", "s3:ListBucket", "s3:DeleteObject")},
        ["policy Statement[0] allows anyone s3:deleteobject, s3:getobject, s3:listbucket, s3:putobject" + PUBLIC_FIX],
    ),
    Exact(
        "bucket-policy-public-five-actions",
        "aws-resource-policy-not-public",
        BUCKET_POLICY,
        {"bucket": "b", "policy": _public("s3:A", "s3:B", "s3:C", "s3:D", "s3:E")},
        ["policy Statement[0] allows anyone s3:a, s3:b, s3:c, s3:d and 1 more" + PUBLIC_FIX],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_the_check_reports_exactly(case: Exact) -> None:
    assert reported(case) == case.messages


@pytest.mark.parametrize(
    ("arn", "expected"),
    [
        ("arn:aws:s3:::*", True),
        ("arn:aws:s3:::*/*", True),
        ("arn:aws:*:*:*:log-group:x", True),  # every service: whatever follows
        ("arn:aws:s3:::X*", False),
        ("arn:aws:logs:*:*:log-group:*", False),
        ("arn:aws:s3:us-east-1::*", False),
        ("xrn:aws:s3:::*", False),
        ("arn:aws:s3", False),
        ("bucket-name", False),
    ],
)
def test_an_arn_names_every_resource_only_when_all_but_the_partition_is_wild(arn: str, expected: bool) -> None:
    assert all_resources_arn(arn) is expected


def test_a_type_without_a_policy_input_has_no_document() -> None:
    assert list(resource_documents("aws:s3/bucketObject:BucketObject", {"policy": _public("s3:GetObject")})) == []
    assert list(resource_documents(S3, {"policy": ""})) == []

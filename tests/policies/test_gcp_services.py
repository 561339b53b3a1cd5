"""Policies of ``gcp_services``: silent on a valid baseline, firing when one field is broken.

The baselines are built with the provider SDK's own resource classes under mocks, so their props are the wire format
the engine sends (a policy reading a misspelt key fails the silent-baseline test).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable

import pulumi_gcp as gcp
import pytest
from pulumi.output import Unknown
from pulumi_mlops.policies import ALL_POLICIES, gcp_services
from pulumi_mlops.policies.offline import run_policies
from pulumi_policy import ResourceValidationPolicy

from pulumi_mlops.preview import CapturedResource, PreviewResult, ResourceGraph, run_program

from .readiness import run as run_on_graph
from .test_resource_policies import DELETE, TAGS, Case, Props, _set, run

GKE = "gcp:container/cluster:Cluster"
NP = "gcp:container/nodePool:NodePool"
BUCKET_ACL = "gcp:storage/bucketACL:BucketACL"
OBJECT_ACL = "gcp:storage/objectACL:ObjectACL"
BUCKET_AC = "gcp:storage/bucketAccessControl:BucketAccessControl"
OBJECT_AC = "gcp:storage/objectAccessControl:ObjectAccessControl"
DEFAULT_ACL = "gcp:storage/defaultObjectACL:DefaultObjectACL"
DEFAULT_AC = "gcp:storage/defaultObjectAccessControl:DefaultObjectAccessControl"
AR_BINDING = "gcp:artifactregistry/repositoryIamBinding:RepositoryIamBinding"
AR_POLICY = "gcp:artifactregistry/repositoryIamPolicy:RepositoryIamPolicy"
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
NODES_SA = "mlops-nodes@acme-ml.iam.gserviceaccount.com"
DEFAULT_SA = "123456789012-compute@developer.gserviceaccount.com"
READER = "roles/artifactregistry.reader"


def _program() -> None:
    shielded = {"enable_secure_boot": True, "enable_integrity_monitoring": True}
    gcp.container.Cluster(
        "gke",
        location="europe-west4",
        remove_default_node_pool=True,
        initial_node_count=1,
        enable_legacy_abac=False,
        enable_kubernetes_alpha=False,
        enable_shielded_nodes=True,
        master_auth=gcp.container.ClusterMasterAuthArgs(
            client_certificate_config=gcp.container.ClusterMasterAuthClientCertificateConfigArgs(
                issue_client_certificate=False
            )
        ),
        node_config=gcp.container.ClusterNodeConfigArgs(
            service_account=NODES_SA,
            oauth_scopes=[CLOUD_PLATFORM],
            workload_metadata_config=gcp.container.ClusterNodeConfigWorkloadMetadataConfigArgs(mode="GKE_METADATA"),
            shielded_instance_config=gcp.container.ClusterNodeConfigShieldedInstanceConfigArgs(**shielded),
        ),
        cluster_autoscaling=gcp.container.ClusterClusterAutoscalingArgs(
            enabled=True,
            auto_provisioning_defaults=gcp.container.ClusterClusterAutoscalingAutoProvisioningDefaultsArgs(
                service_account=NODES_SA, oauth_scopes=[CLOUD_PLATFORM]
            ),
            resource_limits=[
                gcp.container.ClusterClusterAutoscalingResourceLimitArgs(resource_type="cpu", maximum=64),
                gcp.container.ClusterClusterAutoscalingResourceLimitArgs(resource_type="memory", maximum=256),
            ],
        ),
        workload_identity_config=gcp.container.ClusterWorkloadIdentityConfigArgs(workload_pool="acme-ml.svc.id.goog"),
        private_cluster_config=gcp.container.ClusterPrivateClusterConfigArgs(
            enable_private_nodes=True, enable_private_endpoint=True
        ),
        master_authorized_networks_config=gcp.container.ClusterMasterAuthorizedNetworksConfigArgs(
            cidr_blocks=[gcp.container.ClusterMasterAuthorizedNetworksConfigCidrBlockArgs(cidr_block="10.0.0.0/8")]
        ),
        database_encryption=gcp.container.ClusterDatabaseEncryptionArgs(state="ENCRYPTED", key_name="k"),
        resource_labels=TAGS,
    )
    gcp.container.NodePool(
        "system",
        cluster="gke",
        location="europe-west4",
        autoscaling=gcp.container.NodePoolAutoscalingArgs(total_min_node_count=1, total_max_node_count=3),
        network_config=gcp.container.NodePoolNetworkConfigArgs(enable_private_nodes=True),
        node_config=gcp.container.NodePoolNodeConfigArgs(
            machine_type="e2-standard-4",
            service_account=NODES_SA,
            oauth_scopes=[CLOUD_PLATFORM],
            workload_metadata_config=gcp.container.NodePoolNodeConfigWorkloadMetadataConfigArgs(mode="GKE_METADATA"),
            shielded_instance_config=gcp.container.NodePoolNodeConfigShieldedInstanceConfigArgs(**shielded),
            resource_labels=TAGS,
        ),
    )
    owners = "project-owners-123456789012"
    gcp.storage.BucketACL("acl", bucket="b", role_entities=[f"OWNER:{owners}", "READER:group-ml@example.com"])
    gcp.storage.ObjectACL("object-acl", bucket="b", object="model.onnx", role_entities=[f"OWNER:{owners}"])
    gcp.storage.BucketAccessControl("bucket-ac", bucket="b", entity="group-ml@example.com", role="READER")
    gcp.storage.ObjectAccessControl("object-ac", bucket="b", object="m", entity="user-a@example.com", role="READER")
    gcp.storage.DefaultObjectACL("default-acl", bucket="b", role_entities=[f"OWNER:{owners}"])
    gcp.storage.DefaultObjectAccessControl("default-ac", bucket="b", entity=owners, role="OWNER")
    member = f"serviceAccount:{NODES_SA}"
    gcp.artifactregistry.RepositoryIamBinding(
        "pull", location="europe-west4", repository="images", role=READER, members=[member]
    )
    gcp.artifactregistry.RepositoryIamPolicy(
        "images-policy",
        location="europe-west4",
        repository="images",
        policy_data=json.dumps({"bindings": [{"role": READER, "members": [member]}]}),
    )


@pytest.fixture(scope="module")
def baselines() -> dict[str, Props]:
    graph = run_program(_program, {})
    return {r.type: r.props for r in graph.resources.values() if r.custom}


def _policy_data(*members: str) -> str:
    return json.dumps({"bindings": [{"role": READER, "members": list(members)}]})


SA_POLICY = "gke-nodes-not-default-service-account"

CASES = [
    Case("gke-no-legacy-abac", GKE, _set("enableLegacyAbac", True), "enableLegacyAbac is true"),
    Case("gke-no-alpha-features", GKE, _set("enableKubernetesAlpha", True), "enableKubernetesAlpha is true"),
    Case(
        "gke-no-client-certificate",
        GKE,
        _set("masterAuth.clientCertificateConfig.issueClientCertificate", True),
        "issueClientCertificate is true",
    ),
    Case(SA_POLICY, GKE, _set("nodeConfig.serviceAccount", DELETE), "nodeConfig.serviceAccount is not set"),
    Case(SA_POLICY, GKE, _set("nodeConfig.serviceAccount", "default"), "serviceAccount is 'default'", id="default"),
    Case(
        SA_POLICY,
        GKE,
        _set("nodePools", [{"name": "extra", "nodeConfig": {"oauthScopes": ["cloud-platform"]}}]),
        "nodePools[0].nodeConfig.serviceAccount is not set",
        id="inline-pool-alias-scope",
    ),
    Case(
        SA_POLICY,
        GKE,
        _set("clusterAutoscaling.autoProvisioningDefaults.serviceAccount", DELETE),
        "clusterAutoscaling.autoProvisioningDefaults.serviceAccount is not set",
        id="auto-provisioning",
    ),
    Case(
        SA_POLICY,
        NP,
        _set("nodeConfig.serviceAccount", DEFAULT_SA),
        f"nodeConfig.serviceAccount is '{DEFAULT_SA}' with the cloud-platform scope",
        id="pool",
    ),
    Case("gcs-acl-not-public", BUCKET_ACL, _set("roleEntities.1", "READER:allUsers"), "'READER:allUsers'"),
    Case("gcs-acl-not-public", BUCKET_ACL, _set("predefinedAcl", "publicRead"), "predefinedAcl is", id="predefined"),
    Case(
        "gcs-acl-not-public",
        OBJECT_ACL,
        _set("roleEntities", ["READER:allAuthenticatedUsers"]),
        "'READER:allAuthenticatedUsers'",
        id="object",
    ),
    Case("gcs-acl-not-public", BUCKET_AC, _set("entity", "allUsers"), "entity is 'allUsers'", id="bucket-ac"),
    Case(
        "gcs-acl-not-public",
        OBJECT_AC,
        _set("entity", "allAuthenticatedUsers"),
        "entity is 'allAuthenticatedUsers'",
        id="object-ac",
    ),
    Case(
        "gcs-default-object-acl-not-public",
        DEFAULT_ACL,
        _set("roleEntities.0", "READER:allUsers"),
        "every new object would be public",
    ),
    Case(
        "gcs-default-object-acl-not-public",
        DEFAULT_AC,
        _set("entity", "allUsers"),
        "entity is 'allUsers'",
        id="access-control",
    ),
    Case(
        "gcs-default-object-acl-not-public",
        BUCKET_ACL,
        _set("defaultAcl", "publicRead"),
        "defaultAcl is 'publicRead'",
        id="bucket-default",
    ),
    Case(
        "artifact-registry-not-public",
        AR_BINDING,
        _set("members", [f"serviceAccount:{NODES_SA}", "allUsers"]),
        f"{READER} granted to allUsers",
    ),
    Case(
        "artifact-registry-not-public",
        AR_POLICY,
        _set("policyData", _policy_data("allAuthenticatedUsers")),
        f"{READER} granted to allAuthenticatedUsers",
        id="policy",
    ),
    Case(
        "artifact-registry-not-public",
        AR_POLICY,
        _set("policyData", "bindings: allUsers"),
        "policyData is not a JSON IAM policy",
        id="unreadable",
    ),
]

MODULE_POLICIES = sorted(p.name for p in gcp_services.POLICIES)
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
    assert set(baselines) == set(gcp_services.RESOURCE_TYPES)
    for type_, props in baselines.items():
        for name in RESOURCE_POLICIES:
            assert run(name, type_, props, {"environment": "prod"}) == [], (name, type_)


def test_the_default_account_with_narrow_scopes_passes(baselines: dict[str, Props]) -> None:
    """Only the cloud-platform scope opens every API to the default account; GKE's default scopes do not."""
    props = copy.deepcopy(baselines[NP])
    del props["nodeConfig"]["serviceAccount"]
    props["nodeConfig"]["oauthScopes"] = [
        "https://www.googleapis.com/auth/devstorage.read_only",
        "https://www.googleapis.com/auth/logging.write",
        "https://www.googleapis.com/auth/monitoring",
    ]
    assert run(SA_POLICY, NP, props, {}) == []
    props["nodeConfig"]["oauthScopes"].append(CLOUD_PLATFORM)
    assert run(SA_POLICY, NP, props, {}) != []


def test_each_default_node_config_is_reported_on_its_own(baselines: dict[str, Props]) -> None:
    props = copy.deepcopy(baselines[GKE])
    del props["nodeConfig"]["serviceAccount"]
    props["clusterAutoscaling"]["autoProvisioningDefaults"]["serviceAccount"] = "default"
    messages = run(SA_POLICY, GKE, props, {})
    assert [m.split(".serviceAccount", 1)[0] for m in messages] == [
        "nodeConfig",
        "clusterAutoscaling.autoProvisioningDefaults",
    ]


def test_an_account_unknown_at_preview_is_an_advisory_not_a_crash(baselines: dict[str, Props]) -> None:
    """The node service account is usually created by the same program, so ``pulumi preview`` does not know it."""
    props = copy.deepcopy(baselines[NP])
    props["nodeConfig"]["serviceAccount"] = Unknown()
    pool = CapturedResource(
        urn="urn:pulumi:p::s::gcp:container/nodePool:NodePool::pool",
        type=NP,
        name="pool",
        custom=True,
        parent=None,
        inputs=props,
    )
    graph = ResourceGraph(project="s", stack="p", resources={pool.urn: pool})
    policy = [p for p in gcp_services.POLICIES if p.name == SA_POLICY]
    (violation,) = run_policies(graph, policies=policy).violations
    assert violation.level == "advisory" and violation.unknown
    props["nodeConfig"]["oauthScopes"] = ["https://www.googleapis.com/auth/logging.write"]  # the account is not read
    assert run_policies(graph, policies=policy).violations == []


def test_the_gcp_stacks_own_resources_pass(previews: Callable[[str], PreviewResult]) -> None:
    result = previews("gcp-dev")
    checked = {r.type for r in result.graph.resources.values()} & set(gcp_services.RESOURCE_TYPES)
    assert {GKE, NP} <= checked  # the stack's cluster and node pools are checked
    report = run_on_graph(result.graph, result.spec, *MODULE_POLICIES)
    assert report.violations == []

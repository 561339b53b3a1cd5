"""The GCP platform as the engine would receive it: security-relevant inputs, dev/prod differences, identity.

Every assertion reads captured wire-format inputs (camelCase keys, numbers as floats) after the run.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pulumi_gcp as gcp
import pytest
import yaml
from pulumi_mlops.components.gcp import GcpPlatform, GcpPlatformArgs
from pulumi_mlops.components.k8s.namespaces import service_account_subject

from pulumi_mlops.preview import CapturedResource, PreviewResult, ResourceGraph, run_program
from pulumi_mlops.preview.graph import is_secret
from pulumi_mlops.preview.graph import plain as unwrap
from pulumi_mlops.preview.mocks import PlatformMocks
from pulumi_mlops.spec import CONFIG_KEY, parse_spec

ROOT = Path(__file__).resolve().parents[2]
STACKS = ("gcp-dev", "gcp-prod")
Previews = Callable[[str], PreviewResult]

WORKLOADS = {
    "trainer": "mlops-training/trainer",
    "server": "mlops-serving/server",
    "drift": "mlops-training/drift",
    "mlflow": "mlops-platform/mlflow",
    "feast": "mlops-platform/feast",
}
"""Expected Kubernetes namespace/service account of each workload role (the stacks keep ``name: mlops``)."""

BUCKET_GRANTS = {
    ("trainer", "models", "roles/storage.objectAdmin"),
    ("trainer", "datasets", "roles/storage.objectAdmin"),
    ("trainer", "datasets", "roles/storage.legacyBucketReader"),
    ("server", "models", "roles/storage.objectViewer"),
    ("server", "prediction-logs", "roles/storage.objectCreator"),
    ("server", "prediction-logs", "roles/storage.legacyBucketReader"),
    ("drift", "prediction-logs", "roles/storage.objectViewer"),
    ("drift", "prediction-logs", "roles/storage.objectCreator"),
    ("drift", "datasets", "roles/storage.objectViewer"),
    ("drift", "models", "roles/storage.objectCreator"),
    ("mlflow", "models", "roles/storage.objectAdmin"),
    ("feast", "datasets", "roles/storage.objectUser"),
    ("feast", "datasets", "roles/storage.legacyBucketReader"),
}
"""Expected (workload, bucket, role) grants; nothing else may touch a bucket. legacyBucketReader adds
``storage.buckets.get``: pyarrow's recursive create_dir (batch output, prediction logs) and Feast's registry
store read the bucket's metadata."""

NODE_ROLES = {
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/monitoring.viewer",
    "roles/artifactregistry.reader",
}


def one(graph: ResourceGraph, type_: str) -> CapturedResource:
    found = graph.of_type(type_)
    assert len(found) == 1, f"{len(found)} resources of type {type_}"
    return found[0]


def pools_by_name(graph: ResourceGraph) -> dict[str, dict[str, Any]]:
    return {r.props["name"]: r.props for r in graph.of_type("gcp:container/nodePool:NodePool")}


def sa_emails(graph: ResourceGraph) -> dict[str, str]:
    return dict(graph.outputs["serviceAccounts"])


def platform_only(resources: list[CapturedResource]) -> list[CapturedResource]:
    """Leave out the CI deployer's identities and grants (``mlops-ci-*``, tests/gcp/test_ci_deployer.py)."""
    return [r for r in resources if not r.name.startswith("mlops-ci-")]


# --- network and cluster -------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_network_is_custom_mode_with_pod_and_service_ranges_nat_and_private_google_access(
    previews: Previews, stack: str
) -> None:
    result = previews(stack)
    graph, spec = result.graph, result.spec
    assert one(graph, "gcp:compute/network:Network").props["autoCreateSubnetworks"] is False
    subnets = {r.props.get("purpose", "PRIVATE"): r.props for r in graph.of_type("gcp:compute/subnetwork:Subnetwork")}
    nodes = subnets["PRIVATE"]
    assert nodes["ipCidrRange"] == spec.network.cidr
    assert nodes["privateIpGoogleAccess"] is True
    assert {(r["rangeName"], r["ipCidrRange"]) for r in nodes["secondaryIpRanges"]} == {
        ("pods", spec.network.pods_cidr),
        ("services", spec.network.services_cidr),
    }
    assert subnets["REGIONAL_MANAGED_PROXY"]["ipCidrRange"] == spec.network.proxy_cidr
    nat = one(graph, "gcp:compute/routerNat:RouterNat").props
    assert nat["router"] == one(graph, "gcp:compute/router:Router").props["name"]
    assert nat["natIpAllocateOption"] == "AUTO_ONLY"


@pytest.mark.parametrize("stack", STACKS)
def test_gke_cluster_security_settings(previews: Previews, stack: str) -> None:
    result = previews(stack)
    spec = result.spec
    cluster = one(result.graph, "gcp:container/cluster:Cluster").props
    assert cluster["workloadIdentityConfig"] == {"workloadPool": f"{spec.gcp_project}.svc.id.goog"}
    assert cluster["datapathProvider"] == "ADVANCED_DATAPATH"
    assert cluster["enableShieldedNodes"] is True
    assert cluster["privateClusterConfig"]["enablePrivateNodes"] is True
    assert cluster["privateClusterConfig"]["masterIpv4CidrBlock"] == spec.network.master_cidr
    assert cluster["masterAuth"]["clientCertificateConfig"]["issueClientCertificate"] is False
    authorized = cluster["masterAuthorizedNetworksConfig"]
    assert [c["cidrBlock"] for c in authorized["cidrBlocks"]] == spec.cluster.api_allowed_cidrs
    assert authorized["gcpPublicCidrsAccessEnabled"] is False
    assert cluster["monitoringConfig"]["managedPrometheus"] == {"enabled": True}
    assert "DCGM" in cluster["monitoringConfig"]["enableComponents"]
    assert cluster["gatewayApiConfig"] == {"channel": "CHANNEL_STANDARD"}
    assert cluster["releaseChannel"] == {"channel": spec.cluster.release_channel}
    assert cluster["removeDefaultNodePool"] is True
    assert cluster["initialNodeCount"] == 1.0
    assert cluster["nodeConfig"]["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}
    assert cluster["resourceLabels"] == spec.labels
    assert cluster["databaseEncryption"]["state"] == "ENCRYPTED"
    keys = {k.urn for k in result.graph.of_type("gcp:kms/cryptoKey:CryptoKey") if "secrets" in k.props["name"]}
    cluster_res = one(result.graph, "gcp:container/cluster:Cluster")
    assert len(keys) == 1 and keys <= set(cluster_res.property_dependencies["databaseEncryption"])
    agents = [g.props for g in result.graph.of_type("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember")]
    assert any(a["member"].endswith("@container-engine-robot.iam.gserviceaccount.com") for a in agents)


def test_dev_and_prod_differ_where_the_profile_says(previews: Previews) -> None:
    dev, prod = previews("gcp-dev").graph, previews("gcp-prod").graph
    dev_cluster = one(dev, "gcp:container/cluster:Cluster").props
    prod_cluster = one(prod, "gcp:container/cluster:Cluster").props
    # Both keep the IP endpoint private and are deployed through the IAM-authorized DNS-based endpoint.
    for cluster in (dev_cluster, prod_cluster):
        assert cluster["privateClusterConfig"]["enablePrivateEndpoint"] is True
        assert cluster["controlPlaneEndpointsConfig"]["dnsEndpointConfig"]["allowExternalTraffic"] is True
    assert (dev_cluster["deletionProtection"], prod_cluster["deletionProtection"]) == (False, True)
    assert prod_cluster["releaseChannel"]["channel"] == "STABLE"

    dev_sql = one(dev, "gcp:sql/databaseInstance:DatabaseInstance").props
    prod_sql = one(prod, "gcp:sql/databaseInstance:DatabaseInstance").props
    assert (dev_sql["settings"]["availabilityType"], prod_sql["settings"]["availabilityType"]) == ("ZONAL", "REGIONAL")
    assert (dev_sql["deletionProtection"], prod_sql["deletionProtection"]) == (False, True)
    assert (dev_sql["settings"]["deletionProtectionEnabled"], prod_sql["settings"]["deletionProtectionEnabled"]) == (
        False,
        True,
    )

    dev_redis = one(dev, "gcp:redis/instance:Instance").props
    prod_redis = one(prod, "gcp:redis/instance:Instance").props
    assert (dev_redis["tier"], prod_redis["tier"]) == ("BASIC", "STANDARD_HA")
    assert (dev_redis["memorySizeGb"], prod_redis["memorySizeGb"]) == (1.0, 5.0)

    assert {r.props["forceDestroy"] for r in dev.of_type("gcp:storage/bucket:Bucket")} == {True}
    assert {r.props["forceDestroy"] for r in prod.of_type("gcp:storage/bucket:Bucket")} == {False}

    assert pools_by_name(dev)["gpu-l4"]["nodeConfig"]["spot"] is True
    prod_pools = pools_by_name(prod)
    assert prod_pools["gpu-l4"]["nodeConfig"]["spot"] is False
    # The training pool gets DWS flex-start capacity through queued provisioning, never spot.
    assert prod_pools["gpu-a100-train"]["nodeConfig"]["spot"] is False
    assert prod_pools["gpu-a100-train"]["queuedProvisioning"] == {"enabled": True}


@pytest.mark.parametrize("stack", STACKS)
def test_system_pool_replaces_the_default_pool(previews: Previews, stack: str) -> None:
    result = previews(stack)
    system = pools_by_name(result.graph)["system"]
    assert system["autoscaling"]["totalMinNodeCount"] == float(result.spec.cluster.system_min_nodes)
    assert system["autoscaling"]["totalMaxNodeCount"] == float(result.spec.cluster.system_max_nodes)
    assert "guestAccelerators" not in system["nodeConfig"]


# --- GPU node pools -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_one_gpu_node_pool_per_spec_pool(previews: Previews, stack: str) -> None:
    result = previews(stack)
    spec, graph = result.spec, result.graph
    pools = pools_by_name(graph)
    nodes_email = next(
        r.props["accountId"] for r in graph.of_type("gcp:serviceaccount/account:Account") if "nodes" in r.name
    )
    assert set(pools) == {"system", *(f"gpu-{p.name}" for p in spec.gpu_pools)}
    for pool in spec.gpu_pools:
        props = pools[f"gpu-{pool.name}"]
        node = props["nodeConfig"]
        assert node["machineType"] == pool.instance_type
        accelerator = {
            "type": pool.accelerator,
            "count": float(pool.gpus_per_node),
            "gpuDriverInstallationConfig": {"gpuDriverVersion": "LATEST"},
        }
        if pool.gke.gpu_sharing is not None:
            accelerator["gpuSharingConfig"] = {
                "gpuSharingStrategy": pool.gke.gpu_sharing.strategy.upper().replace("-", "_"),
                "maxSharedClientsPerGpu": float(pool.gke.gpu_sharing.max_shared_clients_per_gpu),
            }
        assert node["guestAccelerators"] == [accelerator]
        assert node["spot"] is pool.spot
        assert props["autoscaling"] == {
            "totalMinNodeCount": float(pool.min_nodes),
            "totalMaxNodeCount": float(pool.max_nodes),
            "locationPolicy": "ANY",
        }
        assert {"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"} in node["taints"]
        assert node["labels"]["pulumi-mlops.io/gpu-pool"] == pool.name
        assert node["labels"]["pulumi-mlops.io/accelerator"] == pool.accelerator
        assert node["gcfsConfig"] == {"enabled": True}
        assert node["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}
        assert node["shieldedInstanceConfig"] == {"enableSecureBoot": True, "enableIntegrityMonitoring": True}
        assert node["serviceAccount"].startswith(f"{nodes_email}@")
        assert spec.labels.items() <= node["resourceLabels"].items()
    assert result.graph.outputs["maxGpus"] == float(spec.max_gpus)
    assert result.graph.outputs["maxGpusByPool"] == {p.name: float(p.max_gpus) for p in spec.gpu_pools}


@pytest.mark.parametrize("stack", STACKS)
def test_no_gpu_device_plugin_is_installed_on_gke(previews: Previews, stack: str) -> None:
    graph = previews(stack).graph
    plugins = [r.name for r in graph.resources.values() if re.search(r"device-plugin|gpu-operator", r.name)]
    assert plugins == []


@pytest.mark.parametrize("stack", STACKS)
def test_node_service_account_has_exactly_the_minimal_project_roles(previews: Previews, stack: str) -> None:
    graph = previews(stack).graph
    grants = [r.props for r in platform_only(graph.of_type("gcp:projects/iAMMember:IAMMember"))]
    assert {g["role"] for g in grants} == NODE_ROLES
    assert len(grants) == len(NODE_ROLES)
    nodes = next(r for r in graph.of_type("gcp:serviceaccount/account:Account") if "nodes" in r.name)
    assert {g["member"] for g in grants} == {
        f"serviceAccount:{nodes.props['accountId']}@{previews(stack).spec.gcp_project}.iam.gserviceaccount.com"
    }


# --- registry, stores -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_artifact_registry_is_immutable_scanned_and_cleaned(previews: Previews, stack: str) -> None:
    result = previews(stack)
    spec = result.spec
    repo = one(result.graph, "gcp:artifactregistry/repository:Repository").props
    assert repo["format"] == "DOCKER"
    assert repo["dockerConfig"] == {"immutableTags": True}
    assert repo["vulnerabilityScanningConfig"] == {"enablementConfig": "INHERITED"}
    assert repo["cleanupPolicyDryRun"] is False
    policies = {p["id"]: p for p in repo["cleanupPolicies"]}
    assert policies["keep-recent"]["action"] == "KEEP"
    assert policies["keep-recent"]["mostRecentVersions"] == {"keepCount": float(spec.registry.keep_untagged)}
    assert policies["delete-untagged"]["action"] == "DELETE"
    assert policies["delete-untagged"]["condition"] == {
        "tagState": "UNTAGGED",
        "olderThan": f"{spec.registry.untagged_days * 86400}s",
    }
    assert result.graph.outputs["registryUrl"] == (
        f"{spec.region}-docker.pkg.dev/{spec.gcp_project}/{repo['repositoryId']}"
    )


@pytest.mark.parametrize("stack", STACKS)
def test_cloud_sql_is_private_tls_only_backed_up_and_waits_for_peering(previews: Previews, stack: str) -> None:
    result = previews(stack)
    graph, spec = result.graph, result.spec
    sql = one(graph, "gcp:sql/databaseInstance:DatabaseInstance")
    settings = sql.props["settings"]
    ip = settings["ipConfiguration"]
    assert ip["ipv4Enabled"] is False
    assert ip["sslMode"] == "ENCRYPTED_ONLY"
    network = one(graph, "gcp:compute/network:Network")
    assert (
        ip["privateNetwork"]
        and ip["privateNetwork"] == one(graph, "gcp:servicenetworking/connection:Connection").props["network"]
    )
    assert network.urn in sql.property_dependencies["settings"]
    assert "authorizedNetworks" not in ip
    backup = settings["backupConfiguration"]
    assert backup["enabled"] is True and backup["pointInTimeRecoveryEnabled"] is True
    assert backup["backupRetentionSettings"]["retainedBackups"] == float(spec.tracking.backup_retention_days)
    assert sql.props["databaseVersion"] == f"POSTGRES_{spec.tracking.postgres_version}"
    assert settings["tier"] == spec.tracking.db_tier
    connection = one(graph, "gcp:servicenetworking/connection:Connection")
    assert connection.urn in sql.dependencies
    address = one(graph, "gcp:compute/globalAddress:GlobalAddress").props
    assert (address["purpose"], address["addressType"]) == ("VPC_PEERING", "INTERNAL")
    assert connection.props["reservedPeeringRanges"] == [address["name"]]


@pytest.mark.parametrize("stack", STACKS)
def test_names_gcp_keeps_after_deletion_carry_a_random_suffix(previews: Previews, stack: str) -> None:
    # Key rings and keys are never deleted, a Cloud SQL name stays taken for a week: an up after a
    # destroy needs new names, drawn once per stack by a RandomId parented to the component.
    result = previews(stack)
    graph, spec = result.graph, result.spec
    suffixes = {r.urn: r for r in graph.of_type("random:index/randomId:RandomId")}
    stems = {
        "mlops-gke-keyring": f"{spec.resource_name('gke')}-secrets",
        "mlops-buckets-keyring": "mlops-buckets-buckets",
        "mlops-tracking-instance": spec.resource_name("mlflow"),
    }
    for resource, stem in stems.items():
        res = graph.named(resource)
        (suffix_urn,) = res.property_dependencies["name"]
        assert suffix_urn in suffixes and suffixes[suffix_urn].parent == res.parent, resource
        assert re.fullmatch(rf"{re.escape(stem)}-[0-9a-f]{{8}}", res.props["name"]), res.props["name"]
    for key in graph.of_type("gcp:kms/cryptoKey:CryptoKey"):
        (ring_urn,) = key.property_dependencies["keyRing"]
        assert graph.resources[ring_urn].type == "gcp:kms/keyRing:KeyRing"
    sql = one(graph, "gcp:sql/databaseInstance:DatabaseInstance").props["name"]
    assert one(graph, "gcp:sql/database:Database").props["instance"] == sql


@pytest.mark.parametrize("stack", STACKS)
def test_database_password_is_generated_secret_and_stored_in_secret_manager(previews: Previews, stack: str) -> None:
    graph = previews(stack).graph
    user = one(graph, "gcp:sql/user:User")
    assert is_secret(user.inputs["password"])
    versions = graph.of_type("gcp:secretmanager/secretVersion:SecretVersion")
    assert versions and all(is_secret(v.inputs["secretData"]) for v in versions)
    (password,) = [
        r.props for r in graph.of_type("random:index/randomPassword:RandomPassword") if ":TrackingStore$" in r.urn
    ]
    assert password["length"] >= 32
    assert is_secret(graph.outputs["kubeconfig"])


@pytest.mark.parametrize("stack", STACKS)
def test_memorystore_has_auth_tls_and_private_service_access(previews: Previews, stack: str) -> None:
    result = previews(stack)
    graph = result.graph
    redis = one(graph, "gcp:redis/instance:Instance")
    assert redis.props["authEnabled"] is True
    assert redis.props["transitEncryptionMode"] == "SERVER_AUTHENTICATION"
    assert redis.props["connectMode"] == "PRIVATE_SERVICE_ACCESS"
    assert redis.props["memorySizeGb"] == float(result.spec.feature_store.redis_memory_gb)
    assert one(graph, "gcp:servicenetworking/connection:Connection").urn in redis.dependencies


@pytest.mark.parametrize("stack", STACKS)
def test_secret_access_is_granted_per_secret_to_its_one_reader(previews: Previews, stack: str) -> None:
    graph = previews(stack).graph
    emails = sa_emails(graph)
    secrets = {r.props["secretId"]: r for r in graph.of_type("gcp:secretmanager/secret:Secret")}
    grants = {
        (g.props["secretId"], g.props["role"], g.props["member"])
        for g in graph.of_type("gcp:secretmanager/secretIamMember:SecretIamMember")
    }
    db_secret = next(s for s in secrets if s.endswith("-mlflow-password"))
    redis_secret = next(s for s in secrets if s.endswith("-feast-auth"))
    assert grants == {
        (db_secret, "roles/secretmanager.secretAccessor", f"serviceAccount:{emails['mlflow']}"),
        (redis_secret, "roles/secretmanager.secretAccessor", f"serviceAccount:{emails['feast']}"),
    }


# --- identity -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_workload_identity_members_match_namespace_and_ksa_exactly(previews: Previews, stack: str) -> None:
    result = previews(stack)
    graph, project = result.graph, result.spec.gcp_project
    accounts = {r.props["accountId"]: r for r in graph.of_type("gcp:serviceaccount/account:Account")}
    emails = sa_emails(graph)
    assert set(emails) == set(WORKLOADS)
    bindings = platform_only(graph.of_type("gcp:serviceaccount/iAMMember:IAMMember"))
    found = {(b.props["serviceAccountId"], b.props["role"], b.props["member"]) for b in bindings}
    expected = set()
    for role, principal in WORKLOADS.items():
        account_id = emails[role].split("@")[0]
        assert account_id in accounts
        namespace, ksa = principal.split("/")
        expected.add(
            (
                f"projects/{project}/serviceAccounts/{emails[role]}",
                "roles/iam.workloadIdentityUser",
                f"serviceAccount:{project}.svc.id.goog[{namespace}/{ksa}]",
            )
        )
    assert found == expected
    assert {role: "/".join(service_account_subject(result.spec, role)) for role in WORKLOADS} == WORKLOADS
    cluster = one(graph, "gcp:container/cluster:Cluster")
    assert all(cluster.urn in b.dependencies for b in bindings), "the identity pool exists only after the cluster"


@pytest.mark.parametrize("stack", STACKS)
def test_bucket_grants_are_least_privilege_and_bucket_level(previews: Previews, stack: str) -> None:
    graph = previews(stack).graph
    emails = {f"serviceAccount:{email}": role for role, email in sa_emails(graph).items()}
    buckets = {name: role for role, name in graph.outputs["bucketNames"].items()}
    members = platform_only(graph.of_type("gcp:storage/bucketIAMMember:BucketIAMMember"))
    grants = {(emails[g.props["member"]], buckets[g.props["bucket"]], g.props["role"]) for g in members}
    assert grants == BUCKET_GRANTS
    assert len(members) == len(BUCKET_GRANTS)


@pytest.mark.parametrize("stack", STACKS)
def test_no_authoritative_iam_and_no_project_level_storage_or_primitive_roles(previews: Previews, stack: str) -> None:
    graph = previews(stack).graph
    authoritative = [r.type for r in graph.resources.values() if re.search(r"iam(binding|policy)", r.type, re.I)]
    assert authoritative == []
    project_roles = {r.props["role"] for r in graph.of_type("gcp:projects/iAMMember:IAMMember")}
    assert not {role for role in project_roles if role.startswith("roles/storage.")}
    assert not project_roles & {"roles/owner", "roles/editor", "roles/viewer", "roles/secretmanager.secretAccessor"}


# --- services, labels, exports --------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_required_apis_are_enabled_and_never_disabled_on_destroy(previews: Previews, stack: str) -> None:
    graph = previews(stack).graph
    services = graph.of_type("gcp:projects/service:Service")
    names = {s.props["service"] for s in services}
    assert {
        f"{api}.googleapis.com"
        for api in ("container", "artifactregistry", "sqladmin", "redis", "servicenetworking", "secretmanager")
    } <= names
    assert {s.props["disableOnDestroy"] for s in services} == {False}


LABELS_AT: dict[str, Callable[[dict[str, Any]], dict[str, str]]] = {
    "gcp:storage/bucket:Bucket": lambda p: p["labels"],
    "gcp:artifactregistry/repository:Repository": lambda p: p["labels"],
    "gcp:sql/databaseInstance:DatabaseInstance": lambda p: p["settings"]["userLabels"],
    "gcp:redis/instance:Instance": lambda p: p["labels"],
    "gcp:secretmanager/secret:Secret": lambda p: p["labels"],
    "gcp:compute/globalAddress:GlobalAddress": lambda p: p["labels"],
    "gcp:container/cluster:Cluster": lambda p: p["resourceLabels"],
    "gcp:container/nodePool:NodePool": lambda p: p["nodeConfig"]["resourceLabels"],
}


@pytest.mark.parametrize("stack", STACKS)
def test_labelable_resources_carry_the_spec_labels(previews: Previews, stack: str) -> None:
    result = previews(stack)
    graph = result.graph
    missing = [
        r.name
        for type_, get in LABELS_AT.items()
        for r in graph.of_type(type_)
        if not result.spec.labels.items() <= get(r.props).items()
    ]
    assert missing == []
    providers = [r for r in graph.of_type("pulumi:providers:gcp") if "defaultLabels" in r.props]
    assert providers and all(json.loads(p.props["defaultLabels"]) == result.spec.labels for p in providers)


@pytest.mark.parametrize("stack", STACKS)
def test_stack_exports_and_kubeconfig_uses_the_gke_auth_plugin(previews: Previews, stack: str) -> None:
    result = previews(stack)
    outputs, spec = result.graph.outputs, result.spec
    assert {"cloud", "region", "project", "bucketNames", "environment", "profile"} <= set(outputs)
    assert outputs["clusterName"] == spec.resource_name("gke")
    assert outputs["databasePrivateIp"] and outputs["redisHost"]
    assert is_secret(outputs["kubeconfig"])
    kubeconfig = json.loads(unwrap(outputs["kubeconfig"]))
    user = kubeconfig["users"][0]["user"]
    assert user["exec"]["command"] == "gke-gcloud-auth-plugin"
    assert set(user) == {"exec"}, "no static token, password or client certificate"
    provider = one(result.graph, "pulumi:providers:kubernetes")
    assert is_secret(provider.inputs["kubeconfig"])


# --- composition: ClusterContext and attaching to an existing cluster -----------------------------------------


def _config(stack: str, **platform: Any) -> dict[str, Any]:
    doc = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())
    config = copy.deepcopy(doc["config"])
    config[CONFIG_KEY].update(platform)
    return config


def test_cluster_context_carries_what_kubernetes_components_need() -> None:
    config = _config("gcp-dev")
    spec = parse_spec(config[CONFIG_KEY])
    seen: dict[str, Any] = {}

    def program() -> None:
        platform = GcpPlatform("mlops", GcpPlatformArgs(spec=spec))
        ctx = platform.cluster_context
        seen["ctx"] = ctx
        pulumi.export("ctx_buckets", ctx.bucket_uris)
        pulumi.export("ctx_annotations", ctx.service_account_annotations)
        pulumi.export("ctx_db_host", ctx.tracking_db.host if ctx.tracking_db else None)
        pulumi.export("ctx_redis", {"host": ctx.redis.host, "port": ctx.redis.port} if ctx.redis else None)
        pulumi.export("ctx_registry", ctx.registry_url)

    graph = run_program(
        program, config, stack="gcp-dev", mocks=PlatformMocks(region=spec.region, gcp_project="acme-ml-dev")
    )
    ctx = seen["ctx"]
    assert ctx.cloud == "gcp"
    assert ctx.gateway_class == "gke-l7-regional-external-managed"
    assert (ctx.gpu.taint_key, ctx.gpu.taint_value, ctx.gpu.taint_effect) == ("nvidia.com/gpu", "present", "NoSchedule")
    assert ctx.gpu.pool_label == "pulumi-mlops.io/gpu-pool"
    assert ctx.redis is not None and ctx.redis.tls is True
    assert ctx.tracking_db is not None and ctx.tracking_db.database == "mlflow"
    outputs = graph.outputs
    assert set(outputs["ctx_buckets"]) == {"models", "datasets", "prediction-logs"}
    assert all(uri.startswith("gs://") for uri in outputs["ctx_buckets"].values())
    annotations = outputs["ctx_annotations"]
    assert set(annotations) == set(WORKLOADS)
    assert all(
        a == {"iam.gke.io/gcp-service-account": f"{spec.resource_name(role)}@acme-ml-dev.iam.gserviceaccount.com"}
        for role, a in annotations.items()
    )
    assert outputs["ctx_db_host"] == "10.100.0.3"
    assert outputs["ctx_redis"] == {"host": "10.100.1.4", "port": 6378.0}
    assert outputs["ctx_registry"] == f"europe-west4-docker.pkg.dev/acme-ml-dev/{spec.resource_name('images')}"
    assert ctx.gateway_source_cidrs == [spec.network.proxy_cidr]
    pools = [r for r in ctx.depends_on if isinstance(r, gcp.container.NodePool)]
    assert len(pools) == len(graph.of_type("gcp:container/nodePool:NodePool")), "system and GPU pools"
    others = [r for r in ctx.depends_on if not isinstance(r, gcp.container.NodePool)]
    assert [type(r).__name__ for r in others] == ["CustomResource", "Release"], (
        "the GPU pool's ComputeClass and the Prometheus Operator CRDs"
    )


def test_attaching_to_an_existing_cluster_creates_no_network_or_cluster() -> None:
    config = _config("gcp-dev", cluster={"existing": {"name": "shared-gke", "kubeconfig_secret": "kubeconfig"}})
    config["pulumi-mlops:kubeconfig"] = {"secure": "AAABAFakeCiphertextForPreviewOnly"}
    spec = parse_spec(config[CONFIG_KEY])
    graph = run_program(
        ROOT / "stacks" / "__main__.py",
        config,
        stack="gcp-attach",
        mocks=PlatformMocks(region=spec.region, gcp_project="acme-ml-dev"),
    )
    assert graph.of_type("gcp:container/cluster:Cluster") == []
    assert graph.of_type("gcp:compute/network:Network") == []
    pools = pools_by_name(graph)
    assert set(pools) == {"gpu-l4"}
    assert pools["gpu-l4"]["cluster"] == "shared-gke"
    network = "projects/acme-ml-dev/global/networks/shared-gke-vpc"
    assert one(graph, "gcp:servicenetworking/connection:Connection").props["network"] == network
    assert (
        one(graph, "gcp:sql/databaseInstance:DatabaseInstance").props["settings"]["ipConfiguration"]["privateNetwork"]
        == network
    )
    provider = one(graph, "pulumi:providers:kubernetes")
    assert is_secret(provider.inputs["kubeconfig"])
    assert graph.outputs["clusterName"] == "shared-gke"


def test_serving_admits_the_proxy_subnet_and_google_health_checks(previews: Previews) -> None:
    result = previews("gcp-dev")
    policy = result.graph.named("mlops-services-namespaces-serving-allow-gateway-and-monitoring")
    cidrs = {s["ipBlock"]["cidr"] for s in policy.props["spec"]["ingress"][0]["from"] if "ipBlock" in s}
    # Application Load Balancers probe backends from 35.191.0.0/16 and 130.211.0.0/22; without them every
    # backend is unhealthy and the Gateway answers 503.
    assert cidrs == {result.spec.network.proxy_cidr, "35.191.0.0/16", "130.211.0.0/22"}

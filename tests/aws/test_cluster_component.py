"""``EksCluster`` on its own: admin access entries, the add-on version table, add-on settings, default StorageClass."""

from __future__ import annotations

import json

import pytest
from aws_support import props
from pulumi_mlops.components.aws.cluster import (
    ADDON_VERSIONS,
    CLUSTER_ADMIN_POLICY,
    DEFAULT_STORAGE_CLASS,
    EksCluster,
    EksClusterArgs,
    addon_versions,
)

from pulumi_mlops.preview import ResourceGraph, run_program
from pulumi_mlops.spec import ClusterSpec

ADMIN = "arn:aws:iam::123456789012:role/platform-admins"


def test_admin_principals_get_access_entries_with_the_cluster_admin_policy() -> None:
    spec = ClusterSpec(admin_principals=[ADMIN], public_endpoint=False)
    graph = run_program(
        lambda: EksCluster(
            "c", EksClusterArgs(spec=spec, cluster_name="c1", region="us-east-1", subnet_ids=["s1", "s2"])
        ),
        config={},
    )
    entry = props(graph.named("c-admin-0"))
    assert (entry["clusterName"], entry["principalArn"], entry["type"]) == ("c1", ADMIN, "STANDARD")
    assoc = props(graph.named("c-admin-0-policy"))
    assert assoc["policyArn"] == CLUSTER_ADMIN_POLICY
    assert CLUSTER_ADMIN_POLICY.endswith(":cluster-access-policy/AmazonEKSClusterAdminPolicy")
    assert assoc["accessScope"] == {"type": "cluster"}
    assert assoc["principalArn"] == ADMIN
    cluster = props(graph.named("c-eks"))
    assert cluster["vpcConfig"]["endpointPublicAccess"] is False
    assert "publicAccessCidrs" not in cluster["vpcConfig"]


def test_unknown_kubernetes_version_names_the_pinned_ones() -> None:
    with pytest.raises(ValueError, match=r"known are 1\.34, 1\.35"):
        addon_versions("1.33")


def _cluster_graph() -> ResourceGraph:
    spec = ClusterSpec(admin_principals=[ADMIN], public_endpoint=False)
    return run_program(
        lambda: EksCluster(
            "c", EksClusterArgs(spec=spec, cluster_name="c1", region="us-east-1", subnet_ids=["s1", "s2"])
        ),
        config={},
    )


def test_metrics_server_add_on_runs_on_the_system_nodes() -> None:
    graph = _cluster_graph()
    addon = graph.named("c-metrics-server")
    assert addon.type == "aws:eks/addon:Addon"
    assert props(addon)["addonName"] == "metrics-server"
    assert props(addon)["addonVersion"] == addon_versions(ClusterSpec().kubernetes_version)["metrics-server"]
    assert graph.named("c-system").urn in addon.dependencies
    for version, row in ADDON_VERSIONS.items():
        assert row["metrics-server"].startswith("v0.8."), version


def test_vpc_cni_enforces_network_policy() -> None:
    graph = _cluster_graph()
    addons = {props(a)["addonName"]: props(a) for a in graph.of_type("aws:eks/addon:Addon")}
    assert json.loads(addons["vpc-cni"]["configurationValues"]) == {"enableNetworkPolicy": "true"}
    assert all("configurationValues" not in a for name, a in addons.items() if name != "vpc-cni")


def test_default_storage_class_is_encrypted_gp3_after_the_ebs_driver() -> None:
    graph = _cluster_graph()
    [sc] = graph.of_type("kubernetes:storage.k8s.io/v1:StorageClass")
    manifest = props(sc)
    assert manifest["metadata"]["name"] == DEFAULT_STORAGE_CLASS == "gp3"
    assert manifest["metadata"]["annotations"] == {"storageclass.kubernetes.io/is-default-class": "true"}
    assert manifest["provisioner"] == "ebs.csi.aws.com"
    assert manifest["parameters"] == {"type": "gp3", "encrypted": "true"}
    assert (manifest["volumeBindingMode"], manifest["reclaimPolicy"]) == ("WaitForFirstConsumer", "Delete")
    assert graph.named("c-aws-ebs-csi-driver").urn in sc.dependencies
    assert sc.provider and sc.provider.startswith(graph.named("c-k8s").urn)


@pytest.mark.parametrize(
    ("spec", "support_type"), [(ClusterSpec(), "STANDARD"), (ClusterSpec(support_type="EXTENDED"), "EXTENDED")]
)
def test_the_upgrade_policy_is_explicit_and_standard_by_default(spec: ClusterSpec, support_type: str) -> None:
    graph = run_program(
        lambda: EksCluster("c", EksClusterArgs(spec=spec, cluster_name="c1", region="us-east-1", subnet_ids=["s1"])),
        config={},
    )
    cluster = props(graph.named("c-eks"))
    assert cluster["upgradePolicy"] == {"supportType": support_type}
    assert cluster["version"] == spec.kubernetes_version

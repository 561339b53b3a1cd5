"""``EksCluster`` on its own: admin access entries and the add-on version table."""

from __future__ import annotations

import pytest
from aws_support import props
from pulumi_mlops.components.aws.cluster import CLUSTER_ADMIN_POLICY, EksCluster, EksClusterArgs, addon_versions

from pulumi_mlops.preview import run_program
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
    with pytest.raises(ValueError, match=r"known are 1\.31, 1\.32, 1\.33"):
        addon_versions("1.29")

"""Every Kubernetes version the spec accepts has a row in every version-keyed table, and the stacks use one."""

from __future__ import annotations

from collections.abc import Callable

import kubernetes_validate
import pytest
from pulumi_mlops.components.aws.cluster import ADDON_VERSIONS, EksCluster, EksClusterArgs
from pulumi_mlops.components.aws.cluster_autoscaler import AUTOSCALER_IMAGE_TAGS
from pulumi_mlops.components.aws.karpenter import KARPENTER_KUBERNETES_RANGE
from pulumi_mlops.components.aws.mountpoint import MOUNTPOINT_VERSIONS

from pulumi_mlops.preview import PreviewResult, run_program
from pulumi_mlops.spec import ClusterSpec, SpecError, parse_spec
from pulumi_mlops.spec.platform import SUPPORTED_KUBERNETES_VERSIONS

Previews = Callable[[str], PreviewResult]
STACKS = ("dev", "staging", "prod", "gcp-dev", "gcp-prod")
EKS_ADDONS = {
    "vpc-cni",
    "kube-proxy",
    "eks-pod-identity-agent",
    "coredns",
    "aws-ebs-csi-driver",
    "metrics-server",
    "eks-node-monitoring-agent",
}


def _minor(version: str) -> tuple[int, int]:
    major, minor = version.removeprefix("v").split(".")[:2]
    return int(major), int(minor)


def test_the_spec_default_is_a_supported_version() -> None:
    assert SUPPORTED_KUBERNETES_VERSIONS
    assert ClusterSpec().kubernetes_version in SUPPORTED_KUBERNETES_VERSIONS
    assert ClusterSpec().kubernetes_version == max(SUPPORTED_KUBERNETES_VERSIONS, key=_minor)


@pytest.mark.parametrize("version", SUPPORTED_KUBERNETES_VERSIONS)
def test_every_eks_addon_is_pinned_for_the_version(version: str) -> None:
    row = ADDON_VERSIONS.get(version)
    assert row is not None, f"components/aws/cluster.py ADDON_VERSIONS has no row for {version}"
    assert set(row) >= EKS_ADDONS, sorted(EKS_ADDONS - set(row))
    assert {frozenset(r) for r in ADDON_VERSIONS.values()} == {frozenset(row)}, "rows pin different add-on sets"
    for addon, pinned in row.items():
        assert pinned.startswith("v") and "-eksbuild." in pinned, (addon, pinned)
    assert _minor(row["kube-proxy"]) == _minor(version)


@pytest.mark.parametrize("version", SUPPORTED_KUBERNETES_VERSIONS)
def test_the_cluster_installs_the_row_of_its_version(version: str) -> None:
    spec = ClusterSpec(kubernetes_version=version)
    graph = run_program(
        lambda: EksCluster("c", EksClusterArgs(spec=spec, cluster_name="c1", region="us-east-1", subnet_ids=["s1"])),
        config={},
    )
    assert graph.named("c-eks").props["version"] == version
    installed = {a.props["addonName"]: a.props["addonVersion"] for a in graph.of_type("aws:eks/addon:Addon")}
    assert installed == ADDON_VERSIONS[version]


@pytest.mark.parametrize("version", SUPPORTED_KUBERNETES_VERSIONS)
def test_the_cluster_autoscaler_minor_matches_the_cluster(version: str) -> None:
    tag = AUTOSCALER_IMAGE_TAGS.get(version)
    assert tag is not None, f"components/aws/cluster_autoscaler.py AUTOSCALER_IMAGE_TAGS has no row for {version}"
    assert _minor(tag) == _minor(version)


@pytest.mark.parametrize("version", SUPPORTED_KUBERNETES_VERSIONS)
def test_the_mountpoint_add_on_is_pinned_for_the_version(version: str) -> None:
    pinned = MOUNTPOINT_VERSIONS.get(version)
    assert pinned is not None, f"components/aws/mountpoint.py MOUNTPOINT_VERSIONS has no row for {version}"
    assert pinned.startswith("v2.") and "-eksbuild." in pinned, "driver v2: Mountpoint pods, fsGroup honoured"


@pytest.mark.parametrize("version", SUPPORTED_KUBERNETES_VERSIONS)
def test_the_pinned_karpenter_supports_the_version(version: str) -> None:
    oldest, newest = KARPENTER_KUBERNETES_RANGE
    assert _minor(oldest) <= _minor(version) <= _minor(newest), f"upgrade KARPENTER_CHART for Kubernetes {version}"


@pytest.mark.parametrize("version", SUPPORTED_KUBERNETES_VERSIONS)
def test_strict_schemas_exist_for_the_version(version: str) -> None:
    manifest = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "probe"}, "data": {"k": "v"}}
    assert kubernetes_validate.validate(manifest, version, strict=True) == version
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate({**manifest, "data": {"k": 1}}, version, strict=True)


@pytest.mark.parametrize("version", ["1.33", "1.36", "1.5"])
def test_an_unsupported_version_fails_at_spec_validation(version: str) -> None:
    raw = {"cloud": "aws", "region": "us-east-1", "environment": "dev", "cluster": {"kubernetes_version": version}}
    with pytest.raises(SpecError) as info:
        parse_spec(raw, source="Pulumi.dev.yaml")
    supported = ", ".join(SUPPORTED_KUBERNETES_VERSIONS)
    assert f"platform.cluster.kubernetes_version: Kubernetes {version} is not supported: use one of {supported}" in (
        str(info.value)
    )


def test_an_unquoted_version_is_refused_with_the_fix() -> None:
    raw = {"cloud": "aws", "region": "us-east-1", "environment": "dev", "cluster": {"kubernetes_version": 1.35}}
    with pytest.raises(SpecError, match=r"cluster\.kubernetes_version: quote the version \(1\.35 is not a string\)"):
        parse_spec(raw)


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_runs_a_supported_version_on_standard_support(stack: str, previews: Previews) -> None:
    result = previews(stack)
    version = result.spec.cluster.kubernetes_version
    assert version in SUPPORTED_KUBERNETES_VERSIONS
    if result.spec.cloud == "aws":
        (cluster,) = result.graph.of_type("aws:eks/cluster:Cluster")
        inputs = cluster.props
        assert (inputs["version"], inputs["upgradePolicy"]) == (version, {"supportType": "STANDARD"})
    else:
        (cluster,) = result.graph.of_type("gcp:container/cluster:Cluster")
        inputs = cluster.props
        assert inputs["minMasterVersion"] == version
        assert inputs["releaseChannel"]["channel"] == result.spec.cluster.release_channel
        assert "nodeVersion" not in inputs
        for pool in result.graph.of_type("gcp:container/nodePool:NodePool"):
            pool_inputs = pool.props
            assert "version" not in pool_inputs, pool.name
            assert pool_inputs["management"]["autoUpgrade"] is True, pool.name

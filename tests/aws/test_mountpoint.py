"""Mountpoint for Amazon S3 (``buckets.mount_datasets``): the CSI add-on bound to a role that reads the datasets bucket
only, a statically provisioned read-only volume over that bucket, and training pods that mount it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aws_support import props, stack_raw, statements
from pulumi_mlops.components.aws.mountpoint import (
    CSI_DRIVER,
    DRIVER_SERVICE_ACCOUNT,
    MOUNTPOINT_ADDON,
    MOUNTPOINT_VERSIONS,
)
from pulumi_mlops.components.k8s.manifests import check_manifests, to_manifest

from pulumi_mlops.preview import PreviewResult
from pulumi_mlops.spec import SpecError, parse_spec

Previews = Callable[[str], PreviewResult]
PV = "kubernetes:core/v1:PersistentVolume"
PVC = "kubernetes:core/v1:PersistentVolumeClaim"
ADDON = "aws:eks/addon:Addon"


def _datasets_bucket(result: PreviewResult) -> str:
    [bucket] = [b for b in result.graph.of_type("aws:s3/bucket:Bucket") if b.name.endswith("-datasets")]
    return str(props(bucket)["bucket"])


def test_the_add_on_is_bound_to_a_role_that_only_reads_the_datasets_bucket(previews: Previews) -> None:
    result = previews("prod")
    graph = result.graph
    [addon] = [a for a in graph.of_type(ADDON) if props(a)["addonName"] == MOUNTPOINT_ADDON]
    assert props(addon)["addonVersion"] == MOUNTPOINT_VERSIONS[result.spec.cluster.kubernetes_version]
    [association] = props(addon)["podIdentityAssociations"]
    assert association["serviceAccount"] == DRIVER_SERVICE_ACCOUNT == "s3-csi-driver-sa"
    role = graph.named("mlops-mountpoint-role")
    assert association["roleArn"] == "arn:aws:iam::123456789012:role/mlops-mountpoint-role"
    [trust] = statements(props(role)["assumeRolePolicy"])
    assert trust["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    bucket = f"arn:aws:s3:::{_datasets_bucket(result)}"
    policy = statements(props(graph.named("mlops-mountpoint-policy"))["policy"])
    granted = {s["Sid"]: (s["Action"], s["Resource"]) for s in policy}
    assert granted["ListDatasets"] == (["s3:ListBucket"], [bucket])
    assert granted["ReadDatasets"] == (["s3:GetObject"], [f"{bucket}/*"])
    assert granted["BucketKey"] == (["kms:Decrypt"], [graph.outputs["bucketsKmsKeyArn"]])
    assert set(granted) == {"ListDatasets", "ReadDatasets", "BucketKey"}, "no write, no other bucket"


def test_the_volume_is_provisioned_statically_for_the_training_claim(previews: Previews) -> None:
    result = previews("prod")
    graph = result.graph
    [pv_res] = graph.of_type(PV)
    pv = to_manifest(pv_res)
    spec = pv["spec"]
    assert pv["metadata"]["name"] == "mlops-prod-datasets"
    assert spec["storageClassName"] == "" and spec["accessModes"] == ["ReadOnlyMany"]
    assert spec["claimRef"] == {"namespace": "mlops-training", "name": "datasets"}
    assert spec["persistentVolumeReclaimPolicy"] == "Retain", "deleting the claim never touches the bucket"
    assert spec["csi"]["driver"] == CSI_DRIVER == "s3.csi.aws.com"
    assert spec["csi"]["volumeHandle"] == pv["metadata"]["name"]
    assert spec["csi"]["volumeAttributes"] == {"bucketName": _datasets_bucket(result)}
    assert spec["mountOptions"] == ["region us-east-1"]
    [addon] = [a for a in graph.of_type(ADDON) if props(a)["addonName"] == MOUNTPOINT_ADDON]
    assert addon.urn in pv_res.dependencies
    [pvc_res] = graph.of_type(PVC)
    pvc = to_manifest(pvc_res)
    assert (pvc["metadata"]["namespace"], pvc["metadata"]["name"]) == ("mlops-training", "datasets")
    assert pvc["spec"]["storageClassName"] == "" and pvc["spec"]["volumeName"] == "mlops-prod-datasets"
    assert pvc["spec"]["accessModes"] == ["ReadOnlyMany"]
    assert {addon.urn, pv_res.urn} <= set(pvc_res.dependencies)
    assert check_manifests(graph, result.spec.cluster.kubernetes_version) == []


def _training_pods(result: PreviewResult) -> dict[str, tuple[Any, dict[str, Any]]]:
    pods: dict[str, tuple[Any, dict[str, Any]]] = {}
    for cron in result.graph.of_type("kubernetes:batch/v1:CronJob"):
        manifest = to_manifest(cron)
        if manifest["metadata"]["name"].startswith("train-"):
            pods[manifest["metadata"]["name"]] = (cron, manifest["spec"]["jobTemplate"]["spec"]["template"]["spec"])
    for job in result.graph.of_type("kubernetes:batch/v1:Job"):
        manifest = to_manifest(job)
        pods[manifest["metadata"]["name"]] = (job, manifest["spec"]["template"]["spec"])
    return pods


def test_training_pods_mount_the_bucket_read_only_after_the_claim(previews: Previews) -> None:
    result = previews("prod")
    [claim] = result.graph.of_type(PVC)
    pods = _training_pods(result)
    assert {f"train-{j.name}" for j in result.spec.training} <= set(pods)
    for name, (res, pod) in pods.items():
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["datasets"]["persistentVolumeClaim"] == {"claimName": "datasets", "readOnly": True}, name
        mounts = {m["name"]: m for m in pod["containers"][0]["volumeMounts"]}
        assert mounts["datasets"] == {"name": "datasets", "mountPath": "/mnt/datasets", "readOnly": True}, name
        assert claim.urn in res.dependencies, name
    for deployment in result.graph.of_type("kubernetes:apps/v1:Deployment"):
        volumes = to_manifest(deployment)["spec"]["template"]["spec"].get("volumes") or []
        assert "datasets" not in {v["name"] for v in volumes}, "serving pods do not mount the datasets bucket"


def test_off_by_default(previews: Previews) -> None:
    result = previews("dev")
    assert result.spec.buckets.mount_datasets is False
    assert not result.graph.of_type(PV) and not result.graph.of_type(PVC)
    assert MOUNTPOINT_ADDON not in {props(a)["addonName"] for a in result.graph.of_type(ADDON)}
    for name, (_, pod) in _training_pods(result).items():
        assert "datasets" not in {v["name"] for v in pod["volumes"]}, name


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"cloud": "gcp", "region": "europe-west4", "gcp_project": "preview-project"},
            "buckets.mount_datasets: Mountpoint for Amazon S3 runs on AWS only",
        ),
        ({"cluster": {"existing": {"name": "analytics"}}}, "install the add-on on that cluster yourself"),
    ],
)
def test_mount_datasets_where_the_stack_cannot_install_it(change: dict[str, Any], message: str) -> None:
    raw = stack_raw("dev")
    raw["buckets"] = {"mount_datasets": True}
    raw.pop("gpu_pools", None)
    for section in ("endpoints", "training", "batch_jobs"):
        raw.pop(section, None)
    for key, value in change.items():
        raw[key] = {**raw[key], **value} if isinstance(value, dict) and isinstance(raw.get(key), dict) else value
    with pytest.raises(SpecError, match=message):
        parse_spec(raw)

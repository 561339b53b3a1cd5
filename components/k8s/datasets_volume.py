"""The datasets bucket as a read-only volume of training pods (``ClusterContext.datasets_volume``).

The cloud layer provisions the PersistentVolume statically (AWS: Mountpoint for Amazon S3's CSI driver), reserved
for one claim by its ``claimRef``; this module creates that claim in the training namespace and the pod volume and
mount that use it. Claim and volume both set ``storageClassName: ""``, so no default StorageClass is applied and the
claim binds to the named volume (``volumeName``), as the driver's static-provisioning example does.
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_kubernetes as k8s

from .context import DatasetsVolume

__all__ = ["DATASETS_VOLUME", "STATIC_CAPACITY", "datasets_claim", "datasets_mount", "datasets_pod_volume"]

DATASETS_VOLUME = "datasets"
"""Name of the pod volume that mounts the claim."""
STATIC_CAPACITY = "1Ti"
"""Capacity of the volume and the claim: required by the API, ignored by object storage."""


def datasets_claim(
    resource_name: str,
    volume: DatasetsVolume,
    namespace: str,
    labels: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> k8s.core.v1.PersistentVolumeClaim:
    """The claim that binds ``volume`` read-only many (one per namespace: a volume binds exactly one claim)."""
    return k8s.core.v1.PersistentVolumeClaim(
        resource_name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=volume.claim_name, namespace=namespace, labels=dict(labels)),
        spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
            access_modes=["ReadOnlyMany"],
            storage_class_name="",
            volume_name=volume.volume_name,
            resources=k8s.core.v1.VolumeResourceRequirementsArgs(requests={"storage": STATIC_CAPACITY}),
        ),
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=volume.depends_on)),
    )


def datasets_pod_volume(volume: DatasetsVolume) -> k8s.core.v1.VolumeArgs:
    """The pod volume of the claim, read-only."""
    return k8s.core.v1.VolumeArgs(
        name=DATASETS_VOLUME,
        persistent_volume_claim=k8s.core.v1.PersistentVolumeClaimVolumeSourceArgs(
            claim_name=volume.claim_name, read_only=True
        ),
    )


def datasets_mount(volume: DatasetsVolume) -> k8s.core.v1.VolumeMountArgs:
    """The container mount of the volume at ``volume.mount_path``, read-only."""
    return k8s.core.v1.VolumeMountArgs(name=DATASETS_VOLUME, mount_path=volume.mount_path, read_only=True)

"""Mountpoint for Amazon S3 (``buckets.mount_datasets``): the datasets bucket as a read-only volume of training pods.

The ``aws-mountpoint-s3-csi-driver`` EKS add-on (driver v2: Mountpoint runs in pods of the ``mount-s3`` namespace
on the workload's node and honours the pod's ``fsGroup``) takes driver-level credentials from EKS Pod Identity on
its ``s3-csi-driver-sa`` service account; that role may list the datasets bucket, read its objects and decrypt
them with the buckets' KMS key, nothing else. The PersistentVolume is provisioned statically, as the driver's
``examples/kubernetes/static_provisioning`` do: ``storageClassName: ""``, a ``claimRef`` that reserves it for one
claim, the bucket in ``volumeAttributes``. ``ReadOnlyMany`` makes the driver mount with ``--read-only``
(awslabs/mountpoint-s3-csi-driver ``pkg/driver/node/node.go``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
from pulumi_mlops.components.k8s.context import DatasetsVolume
from pulumi_mlops.components.k8s.datasets_volume import STATIC_CAPACITY
from pulumi_mlops.components.k8s.workload import labels

from .iam import service_trust_policy

__all__ = [
    "CSI_DRIVER",
    "DRIVER_SERVICE_ACCOUNT",
    "MOUNTPOINT_ADDON",
    "MOUNTPOINT_VERSIONS",
    "MountpointS3",
    "MountpointS3Args",
    "mountpoint_statements",
]

MOUNTPOINT_ADDON = "aws-mountpoint-s3-csi-driver"
"""EKS add-on name of the Mountpoint for Amazon S3 CSI driver."""
MOUNTPOINT_VERSIONS: dict[str, str] = {"1.34": "v2.7.0-eksbuild.1", "1.35": "v2.7.0-eksbuild.1"}
"""Add-on version per Kubernetes minor version, one row per ``SUPPORTED_KUBERNETES_VERSIONS`` entry (driver v2.7.0,
compatible with Kubernetes 1.31 and later on Amazon Linux 2023 and Bottlerocket)."""
CSI_DRIVER = "s3.csi.aws.com"
"""CSI driver name the volume names."""
DRIVER_SERVICE_ACCOUNT = "s3-csi-driver-sa"
"""Service account (kube-system) whose Pod Identity association gives the driver its credentials."""


def mountpoint_statements(bucket_arn: str, kms_key_arn: str) -> list[aws.iam.GetPolicyDocumentStatementArgs]:
    """Read-only access to one bucket: list it, get its objects, decrypt them (SSE-KMS)."""
    return [
        aws.iam.GetPolicyDocumentStatementArgs(
            sid="ListDatasets", effect="Allow", actions=["s3:ListBucket"], resources=[bucket_arn]
        ),
        aws.iam.GetPolicyDocumentStatementArgs(
            sid="ReadDatasets", effect="Allow", actions=["s3:GetObject"], resources=[f"{bucket_arn}/*"]
        ),
        aws.iam.GetPolicyDocumentStatementArgs(
            sid="BucketKey", effect="Allow", actions=["kms:Decrypt"], resources=[kms_key_arn]
        ),
    ]


@dataclass
class MountpointS3Args:
    """Inputs of :class:`MountpointS3`."""

    cluster_name: pulumi.Input[str]
    """EKS cluster the add-on is installed on (the cluster resource's Output)."""
    kubernetes_version: str
    """Cluster minor version (selects the add-on version)."""
    bucket_name: pulumi.Input[str]
    """The datasets bucket."""
    bucket_arn: pulumi.Input[str]
    """Its ARN (the only bucket the driver's role may read)."""
    kms_key_arn: pulumi.Input[str]
    """KMS key the bucket's objects are encrypted with."""
    region: str
    """Region of the bucket (a Mountpoint mount option)."""
    volume_name: str
    """Name of the PersistentVolume (cluster-wide; also its CSI volume handle, which must be unique)."""
    claim_namespace: str
    """Namespace of the one claim the volume is reserved for (the training namespace)."""
    claim_name: str = "datasets"
    """Name of that claim."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags of the role and the add-on."""
    depends_on: Sequence[pulumi.Resource] = ()
    """What the add-on waits for (the nodes and the Pod Identity agent)."""


class MountpointS3(pulumi.ComponentResource):
    """The Mountpoint CSI add-on, its read-only role and the datasets PersistentVolume. Pass the AWS and Kubernetes
    providers in ``opts.providers``.

    Outputs: ``role`` (the driver's role), ``addon``, ``volume`` (:class:`DatasetsVolume` for
    ``ClusterContext.datasets_volume``).
    """

    role: aws.iam.Role
    addon: aws.eks.Addon
    volume: DatasetsVolume

    def __init__(self, name: str, args: MountpointS3Args, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pulumi-mlops:aws:MountpointS3", name, None, opts)
        try:
            version = MOUNTPOINT_VERSIONS[args.kubernetes_version]
        except KeyError:
            raise ValueError(
                f"no pinned {MOUNTPOINT_ADDON} version for Kubernetes {args.kubernetes_version}: add a row to "
                "components/aws/mountpoint.py MOUNTPOINT_VERSIONS"
            ) from None
        tags = dict(args.tags)
        self.role = aws.iam.Role(
            f"{name}-role",
            description="Mountpoint for Amazon S3 CSI driver: read the datasets bucket",
            assume_role_policy=service_trust_policy("pods.eks.amazonaws.com", ("sts:AssumeRole", "sts:TagSession")),
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        document = aws.iam.get_policy_document_output(
            statements=pulumi.Output.all(args.bucket_arn, args.kms_key_arn).apply(
                lambda v: mountpoint_statements(v[0], v[1])
            )
        )
        policy = aws.iam.RolePolicy(
            f"{name}-policy",
            role=self.role.id,
            policy=document.json,
            opts=pulumi.ResourceOptions(parent=self.role),
        )
        self.addon = aws.eks.Addon(
            f"{name}-addon",
            cluster_name=args.cluster_name,
            addon_name=MOUNTPOINT_ADDON,
            addon_version=version,
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            pod_identity_associations=[
                aws.eks.AddonPodIdentityAssociationArgs(role_arn=self.role.arn, service_account=DRIVER_SERVICE_ACCOUNT)
            ],
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*args.depends_on, policy]),
        )
        persistent_volume = k8s.core.v1.PersistentVolume(
            f"{name}-volume",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=args.volume_name, labels=labels("datasets", args.volume_name, "training", tags)
            ),
            spec=k8s.core.v1.PersistentVolumeSpecArgs(
                capacity={"storage": STATIC_CAPACITY},
                access_modes=["ReadOnlyMany"],
                storage_class_name="",
                persistent_volume_reclaim_policy="Retain",
                claim_ref=k8s.core.v1.ObjectReferenceArgs(namespace=args.claim_namespace, name=args.claim_name),
                mount_options=[f"region {args.region}"],
                csi=k8s.core.v1.CSIPersistentVolumeSourceArgs(
                    driver=CSI_DRIVER,
                    volume_handle=args.volume_name,
                    volume_attributes={"bucketName": args.bucket_name},
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*args.depends_on, self.addon]),
        )
        self.volume = DatasetsVolume(
            volume_name=args.volume_name, claim_name=args.claim_name, depends_on=[self.addon, persistent_volume]
        )
        self.register_outputs({"role": self.role.arn, "volume": args.volume_name})

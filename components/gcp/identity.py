"""Google service accounts for the platform's workloads, bound to Kubernetes service accounts by Workload Identity.

Each workload role gets one Google service account, a ``roles/iam.workloadIdentityUser`` binding for exactly
one Kubernetes service account (the namespace and name ``components.k8s.namespaces.service_account_subject``
gives it), and bucket-level grants for the buckets it touches; nothing project-wide.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp
from pulumi_mlops.components.k8s.context import WORKLOAD_ROLES

__all__ = [
    "BUCKET_GRANTS",
    "WorkloadIdentities",
    "WorkloadIdentitiesArgs",
    "account_id",
    "workload_member",
]

_BUCKET_METADATA = "roles/storage.legacyBucketReader"
"""``storage.buckets.get`` (and ``storage.objects.list``) on one bucket: pyarrow's recursive ``create_dir``
reads the bucket's metadata when no parent folder exists yet, and Feast's GCS registry store opens the bucket
with ``get_bucket``; no ``roles/storage.object*`` role carries that permission."""

BUCKET_GRANTS: dict[str, dict[str, tuple[str, ...]]] = {
    # Batch scoring writes its output (folders, moved parts, a rewritten manifest) in the datasets bucket.
    "trainer": {"models": ("roles/storage.objectAdmin",), "datasets": ("roles/storage.objectAdmin", _BUCKET_METADATA)},
    "server": {
        "models": ("roles/storage.objectViewer",),
        "prediction-logs": ("roles/storage.objectCreator", _BUCKET_METADATA),
    },
    # Drift jobs read the prediction logs and create (never overwrite) their reports next to them, and
    # audit events in the models bucket: objectCreator carries no delete, so nothing stored can be replaced.
    "drift": {
        "prediction-logs": ("roles/storage.objectViewer", "roles/storage.objectCreator"),
        "datasets": ("roles/storage.objectViewer",),
        "models": ("roles/storage.objectCreator",),
    },
    "mlflow": {"models": ("roles/storage.objectAdmin",)},
    # The feature server reads the registry; materialization overwrites it (create + delete).
    "feast": {"datasets": ("roles/storage.objectUser", _BUCKET_METADATA)},
}
"""Bucket role -> storage roles granted to each workload role, on that bucket only."""

if set(BUCKET_GRANTS) != set(WORKLOAD_ROLES):
    raise RuntimeError(f"BUCKET_GRANTS must cover exactly the workload roles {WORKLOAD_ROLES}")


def account_id(stem: str, role: str) -> str:
    """A service account id (6-30 chars) for ``<stem>-<role>``; long stems are shortened with a stable hash."""
    full = f"{stem}-{role}"
    if len(full) <= 30:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:4]
    keep = 30 - len(role) - len(digest) - 2
    return f"{stem[:keep].rstrip('-')}-{digest}-{role}"


def workload_member(project: str, namespace: str, ksa: str) -> str:
    """The Workload Identity principal of one Kubernetes service account."""
    return f"serviceAccount:{project}.svc.id.goog[{namespace}/{ksa}]"


@dataclass
class WorkloadIdentitiesArgs:
    """Inputs of :class:`WorkloadIdentities`."""

    project: str
    """GCP project id (also names the workload identity pool ``<project>.svc.id.goog``)."""
    stem: str
    """Physical-name stem (``<name>-<environment>``) of the service account ids."""
    bucket_names: Mapping[str, pulumi.Input[str]]
    """Bucket name per bucket role (``models``, ``datasets``, ``prediction-logs``)."""
    identities: Mapping[str, tuple[str, str]]
    """Kubernetes namespace and service account name per workload role."""
    grants: Mapping[str, Mapping[str, Sequence[str]]] = field(default_factory=lambda: dict(BUCKET_GRANTS))
    """Storage roles per bucket role per workload role."""
    depends_on: Sequence[pulumi.Resource] = ()
    """Resources the bindings wait for (the cluster that creates the workload identity pool)."""


class WorkloadIdentities(pulumi.ComponentResource):
    """One Google service account per workload role with its Workload Identity binding and bucket grants.

    Outputs: ``emails`` (by role), ``accounts`` (by role, for resource-level grants elsewhere).
    """

    emails: dict[str, pulumi.Output[str]]
    accounts: dict[str, gcp.serviceaccount.Account]

    def __init__(self, name: str, args: WorkloadIdentitiesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pulumi-mlops:gcp:WorkloadIdentities", name, None, opts)
        self.emails = {}
        self.accounts = {}
        for role, (namespace, ksa) in args.identities.items():
            account = gcp.serviceaccount.Account(
                f"{name}-{role}",
                account_id=account_id(args.stem, role),
                display_name=f"{args.stem} {role} ({namespace}/{ksa})",
                project=args.project,
                opts=pulumi.ResourceOptions(parent=self),
            )
            gcp.serviceaccount.IAMMember(
                f"{name}-{role}-wi",
                service_account_id=account.name,
                role="roles/iam.workloadIdentityUser",
                member=workload_member(args.project, namespace, ksa),
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
            )
            for bucket_role, storage_roles in args.grants.get(role, {}).items():
                for i, storage_role in enumerate(storage_roles):
                    # The first grant keeps the name it always had: renaming an IAM member replaces it, and
                    # deleting the old resource would remove the binding the new one had just (re)added.
                    suffix = "" if i == 0 else "-" + storage_role.rsplit(".", 1)[-1].lower()
                    gcp.storage.BucketIAMMember(
                        f"{name}-{role}-{bucket_role}{suffix}",
                        bucket=args.bucket_names[bucket_role],
                        role=storage_role,
                        member=account.email.apply(lambda email: f"serviceAccount:{email}"),
                        opts=pulumi.ResourceOptions(parent=self),
                    )
            self.accounts[role] = account
            self.emails[role] = account.email
        self.register_outputs({"emails": self.emails})

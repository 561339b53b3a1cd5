"""GCP services the other modules do not cover: GKE cluster hardening and node service accounts, GCS ACLs and default
object ACLs, Artifact Registry repository IAM bindings and policies.

GCS ACLs only apply to buckets without uniform bucket-level access (``gcs-public-access-prevention`` requires it on
the stack's own buckets), but an ACL resource on any other bucket is still a grant. A single
``RepositoryIamMember`` is checked by ``gcp-no-public-iam-members`` in :mod:`.identity`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from pulumi_policy import Policy, ResourceValidationArgs

from ._base import as_list, get, is_true, iter_dicts, json_doc, resource_policy

__all__ = [
    "AR_IAM_BINDING",
    "AR_IAM_POLICY",
    "BUCKET_ACCESS_CONTROL",
    "BUCKET_ACL",
    "CLOUD_PLATFORM_SCOPES",
    "DEFAULT_OBJECT_ACCESS_CONTROL",
    "DEFAULT_OBJECT_ACL",
    "GKE_CLUSTER",
    "GKE_NODE_POOL",
    "OBJECT_ACCESS_CONTROL",
    "OBJECT_ACL",
    "POLICIES",
    "PUBLIC_ENTITIES",
    "RESOURCE_TYPES",
    "is_default_compute_account",
    "node_configs",
]

Report = Callable[[str], None]

GKE_CLUSTER = "gcp:container/cluster:Cluster"
GKE_NODE_POOL = "gcp:container/nodePool:NodePool"
BUCKET_ACL = "gcp:storage/bucketACL:BucketACL"
OBJECT_ACL = "gcp:storage/objectACL:ObjectACL"
BUCKET_ACCESS_CONTROL = "gcp:storage/bucketAccessControl:BucketAccessControl"
OBJECT_ACCESS_CONTROL = "gcp:storage/objectAccessControl:ObjectAccessControl"
DEFAULT_OBJECT_ACL = "gcp:storage/defaultObjectACL:DefaultObjectACL"
DEFAULT_OBJECT_ACCESS_CONTROL = "gcp:storage/defaultObjectAccessControl:DefaultObjectAccessControl"
AR_IAM_BINDING = "gcp:artifactregistry/repositoryIamBinding:RepositoryIamBinding"
AR_IAM_POLICY = "gcp:artifactregistry/repositoryIamPolicy:RepositoryIamPolicy"

_ACL_TYPES = (BUCKET_ACL, OBJECT_ACL, BUCKET_ACCESS_CONTROL, OBJECT_ACCESS_CONTROL)
_DEFAULT_ACL_TYPES = (BUCKET_ACL, DEFAULT_OBJECT_ACL, DEFAULT_OBJECT_ACCESS_CONTROL)

RESOURCE_TYPES: tuple[str, ...] = tuple(
    dict.fromkeys((GKE_CLUSTER, GKE_NODE_POOL, *_ACL_TYPES, *_DEFAULT_ACL_TYPES, AR_IAM_BINDING, AR_IAM_POLICY))
)
"""Every resource type a policy of this module checks."""

POLICIES: list[Policy] = []

CLOUD_PLATFORM_SCOPES = ("https://www.googleapis.com/auth/cloud-platform", "cloud-platform")
"""The scope that opens every Google API to the node's service account, in full and as the provider's alias."""
PUBLIC_ENTITIES = ("allUsers", "allAuthenticatedUsers")
_PUBLIC_PREDEFINED = ("publicRead", "publicReadWrite", "authenticatedRead")
_DEFAULT_COMPUTE_ACCOUNT = re.compile(r"^\d+-compute@developer\.gserviceaccount\.com$")


def is_default_compute_account(account: Any) -> bool:
    """Unset, ``default`` or ``<project number>-compute@developer.gserviceaccount.com``: the Compute Engine default."""
    return not account or str(account) == "default" or bool(_DEFAULT_COMPUTE_ACCOUNT.match(str(account)))


# --- GKE clusters -----------------------------------------------------------------------------


@resource_policy(
    "gke-no-legacy-abac",
    "GKE clusters do not set enableLegacyAbac true.",
    [GKE_CLUSTER],
    registry=POLICIES,
)
def _legacy_abac(args: ResourceValidationArgs, report: Report) -> None:
    if is_true(get(args.props, "enableLegacyAbac")):
        report("enableLegacyAbac is true: legacy ABAC grants broad static permissions beside RBAC; set it false")


@resource_policy(
    "gke-no-alpha-features",
    "GKE clusters do not set enableKubernetesAlpha true.",
    [GKE_CLUSTER],
    registry=POLICIES,
)
def _alpha(args: ResourceValidationArgs, report: Report) -> None:
    if is_true(get(args.props, "enableKubernetesAlpha")):
        report("enableKubernetesAlpha is true: alpha clusters get no support or upgrades and expire after 30 days")


@resource_policy(
    "gke-no-client-certificate",
    "GKE clusters do not set masterAuth.clientCertificateConfig.issueClientCertificate true.",
    [GKE_CLUSTER],
    registry=POLICIES,
)
def _client_certificate(args: ResourceValidationArgs, report: Report) -> None:
    if is_true(get(args.props, "masterAuth.clientCertificateConfig.issueClientCertificate")):
        report(
            "masterAuth.clientCertificateConfig.issueClientCertificate is true: a client certificate is a "
            "credential that cannot be revoked; set it false and authenticate with Google identities"
        )


def node_configs(resource_type: str, props: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """``(where, config)`` of every node configuration of a GKE cluster or node pool: the cluster's ``nodeConfig``
    (its default pool), each inline ``nodePools[i].nodeConfig``, node auto-provisioning defaults, a pool's
    ``nodeConfig``."""
    if resource_type == GKE_NODE_POOL:
        config = get(props, "nodeConfig")
        if isinstance(config, Mapping):
            yield "nodeConfig", config
        return
    config = get(props, "nodeConfig")
    if isinstance(config, Mapping):
        yield "nodeConfig", config
    for i, pool in enumerate(iter_dicts(get(props, "nodePools"))):
        config = get(pool, "nodeConfig")
        if isinstance(config, Mapping):
            yield f"nodePools[{i}].nodeConfig", config
    config = get(props, "clusterAutoscaling.autoProvisioningDefaults")
    if isinstance(config, Mapping):
        yield "clusterAutoscaling.autoProvisioningDefaults", config


@resource_policy(
    "gke-nodes-not-default-service-account",
    "GKE node configs (a cluster's nodeConfig, nodePools and auto-provisioning defaults; a node pool's nodeConfig) "
    "that grant the cloud-platform scope name a serviceAccount other than the Compute Engine default.",
    [GKE_CLUSTER, GKE_NODE_POOL],
    registry=POLICIES,
)
def _node_service_account(args: ResourceValidationArgs, report: Report) -> None:
    for where, config in node_configs(args.resource_type, args.props):
        scopes = [str(s) for s in as_list(get(config, "oauthScopes"))]
        if not any(s in CLOUD_PLATFORM_SCOPES for s in scopes):
            continue
        account = get(config, "serviceAccount")
        if is_default_compute_account(account):
            shown = "not set" if not account else f"{account!r}"
            report(
                f"{where}.serviceAccount is {shown} with the cloud-platform scope: the Compute Engine default "
                "account (often Editor on the project) would reach every API; name the platform's node service account"
            )


# --- GCS ACLs ---------------------------------------------------------------------------------


def _public_role_entities(props: Mapping[str, Any]) -> list[str]:
    found = []
    for item in as_list(get(props, "roleEntities")):
        _, _, entity = str(item).partition(":")
        if entity in PUBLIC_ENTITIES:
            found.append(str(item))
    return found


@resource_policy(
    "gcs-acl-not-public",
    "GCS bucket and object ACLs (roleEntities, predefinedAcl, access-control entity) grant nothing to allUsers or "
    "allAuthenticatedUsers.",
    _ACL_TYPES,
    registry=POLICIES,
)
def _acl(args: ResourceValidationArgs, report: Report) -> None:
    if args.resource_type in (BUCKET_ACCESS_CONTROL, OBJECT_ACCESS_CONTROL):
        entity = get(args.props, "entity")
        if entity in PUBLIC_ENTITIES:
            report(f"entity is {entity!r}: grant {get(args.props, 'role')} to named users or groups only")
        return
    for item in _public_role_entities(args.props):
        report(f"roleEntities has {item!r}: remove it; grant named principals through IAM instead")
    predefined = get(args.props, "predefinedAcl")
    if predefined in _PUBLIC_PREDEFINED:
        report(f"predefinedAcl is {predefined!r}: use 'private' or 'projectPrivate'")


@resource_policy(
    "gcs-default-object-acl-not-public",
    "GCS default object ACLs (DefaultObjectACL roleEntities, DefaultObjectAccessControl entity, BucketACL defaultAcl) "
    "grant nothing to allUsers or allAuthenticatedUsers.",
    _DEFAULT_ACL_TYPES,
    registry=POLICIES,
)
def _default_acl(args: ResourceValidationArgs, report: Report) -> None:
    if args.resource_type == BUCKET_ACL:
        default = get(args.props, "defaultAcl")
        if default in _PUBLIC_PREDEFINED:
            report(f"defaultAcl is {default!r}: every new object would be public; use 'private' or 'projectPrivate'")
        return
    if args.resource_type == DEFAULT_OBJECT_ACCESS_CONTROL:
        entity = get(args.props, "entity")
        if entity in PUBLIC_ENTITIES:
            report(f"entity is {entity!r}: every new object would be readable by {entity}; name users or groups")
        return
    for item in _public_role_entities(args.props):
        report(f"roleEntities has {item!r}: every new object would be public; remove it")


# --- Artifact Registry ------------------------------------------------------------------------


@resource_policy(
    "artifact-registry-not-public",
    "Artifact Registry repository IAM bindings and IAM policies grant no role to allUsers or allAuthenticatedUsers.",
    [AR_IAM_BINDING, AR_IAM_POLICY],
    registry=POLICIES,
)
def _registry_public(args: ResourceValidationArgs, report: Report) -> None:
    if args.resource_type == AR_IAM_BINDING:
        bindings: list[Mapping[str, Any]] = [args.props]
    else:
        doc = json_doc(get(args.props, "policyData"))
        if not isinstance(doc, Mapping):
            report("policyData is not a JSON IAM policy: build it with gcp.organizations.get_iam_policy")
            return
        bindings = list(iter_dicts(doc.get("bindings")))
    for binding in bindings:
        public = [str(m) for m in as_list(get(binding, "members")) if str(m) in PUBLIC_ENTITIES]
        if public:
            report(
                f"{get(binding, 'role')} granted to {', '.join(public)}: anyone could pull the images; "
                "grant named principals only"
            )

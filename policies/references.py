"""Deploy readiness: bucket references resolve, and the identities of the workloads may use them.

``bucket-uris-resolve``: every ``s3://``/``gs://`` URI a workload is given (container arguments and
environment, files mounted from ConfigMaps and Secrets; see :mod:`._uses`) names a bucket this stack
creates (by its name input) or one listed in the ``externalBuckets`` config (``buckets.external``).

``bucket-access-granted``: for every URI in a bucket of this stack, the workload's cloud identity may make
the calls the runtime makes with it. :data:`WORKLOAD_USES` says what each runtime command does with each
location it is given and :data:`OPERATIONS` which S3 actions (with the SSE-KMS key actions) and Cloud
Storage permissions that takes. The identity is found as the cluster finds it: EKS Pod Identity association
(namespace and service account) or the IRSA ``eks.amazonaws.com/role-arn`` annotation, then the role's
inline, attached and boundary policies, the bucket policy and the key policy (:mod:`._iam` evaluates them);
on GKE the ``iam.gke.io/gcp-service-account`` annotation, the ``roles/iam.workloadIdentityUser`` binding
that lets the Kubernetes service account act as it, and the bucket's and project's role bindings of that
account or of the pod's own Workload Identity principal. External buckets are granted where they are managed
and are not checked.
"""

from __future__ import annotations

from dataclasses import dataclass

from pulumi_policy import Policy, PolicyResource, ReportViolation, StackValidationArgs

from ._base import config_value, get, stack_policy
from ._graph import WORKLOAD_TYPES, StackGraph
from ._iam import GCS_ROLE_PERMISSIONS, Request, evaluate, glob_match
from ._identities import (
    IDENTITY_TYPES,
    Identity,
    aws_identity,
    gcs_grants,
    gke_identity,
    kms_documents,
    s3_documents,
)
from ._uses import Use, workload_uses

__all__ = ["OPERATIONS", "POLICIES", "RESOURCE_TYPES", "WORKLOAD_USES", "Operation", "operations_of"]

S3_BUCKET = "aws:s3/bucket:Bucket"
S3_BUCKET_V2 = "aws:s3/bucketV2:BucketV2"
GCS_BUCKET = "gcp:storage/bucket:Bucket"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
SECRET = "kubernetes:core/v1:Secret"

RESOURCE_TYPES: tuple[str, ...] = tuple(
    dict.fromkeys((*WORKLOAD_TYPES, CONFIG_MAP, SECRET, S3_BUCKET, S3_BUCKET_V2, GCS_BUCKET, *IDENTITY_TYPES))
)
"""Every resource type a policy of this module inspects."""

POLICIES: list[Policy] = []


@dataclass(frozen=True)
class Operation:
    """What a workload does with a location, and what that takes on each cloud."""

    description: str
    s3: tuple[tuple[str, str], ...]
    """``(action, target)``: target ``bucket`` (HeadBucket: the bucket ARN, no ``s3:prefix``), ``listing``
    (ListObjectsV2 under the location's prefix) or ``object`` (an object at or under the location)."""
    kms: tuple[str, ...]
    """Actions on the bucket's SSE-KMS key (multipart uploads and copies need Decrypt as well)."""
    gcs: tuple[str, ...]
    """Cloud Storage permissions on the bucket."""
    folder: bool = True
    """The location is a folder (a key prefix); else one object."""


_READ_S3 = (("s3:ListBucket", "listing"), ("s3:GetObject", "object"))
_BOTH_KEYS = ("kms:Decrypt", "kms:GenerateDataKey")
_DELETE = "storage.objects.delete"

OPERATIONS: dict[str, Operation] = {
    # pyarrow get_file_info + recursive listing + reads; HeadObject on a missing key needs ListBucket.
    "read": Operation(
        "lists and reads the objects there", _READ_S3, ("kms:Decrypt",), ("storage.objects.list", "storage.objects.get")
    ),
    # runtime/batch: create_dir(recursive) (S3 HeadBucket; GCS object and bucket metadata), parts written to
    # a temporary name and moved (copy + delete), the manifest reread on resume and rewritten per chunk.
    "write": Operation(
        "writes resumable output (folders, parts moved into place, a manifest reread and rewritten)",
        (("s3:ListBucket", "bucket"), *_READ_S3, ("s3:PutObject", "object"), ("s3:DeleteObject", "object")),
        _BOTH_KEYS,
        ("storage.buckets.get", "storage.objects.list", "storage.objects.get", "storage.objects.create", _DELETE),
    ),
    # runtime/serving/prediction_log: create_dir(recursive) then a new uniquely named parquet part.
    "append": Operation(
        "creates folders and writes new parquet parts",
        (("s3:ListBucket", "bucket"), ("s3:PutObject", "object")),
        _BOTH_KEYS,
        ("storage.buckets.get", "storage.objects.create"),
    ),
    # MLflow's S3/GCS artifact repositories: upload, list, download, delete artifacts.
    "artifacts": Operation(
        "stores, lists, serves and deletes artifacts",
        (*_READ_S3, ("s3:PutObject", "object"), ("s3:DeleteObject", "object")),
        _BOTH_KEYS,
        ("storage.objects.list", "storage.objects.get", "storage.objects.create", "storage.objects.delete"),
    ),
    # runtime/storage.put_object (audit events, drift reports): one new object per write, never overwritten;
    # pyarrow uploads even small objects as a multipart upload (SSE-KMS: GenerateDataKey, then Decrypt).
    "put": Operation(
        "creates new objects (one per audit event or report; none is overwritten or deleted)",
        (("s3:PutObject", "object"),),
        _BOTH_KEYS,
        ("storage.objects.create",),
    ),
    # Feast's S3/GCS registry stores (0.54): head_bucket / get_bucket, then the registry object.
    "registry-read": Operation(
        "checks the bucket and reads the registry file",
        (("s3:ListBucket", "bucket"), ("s3:GetObject", "object")),
        ("kms:Decrypt",),
        ("storage.buckets.get", "storage.objects.get"),
        folder=False,
    ),
    "registry-write": Operation(
        "checks the bucket, reads and overwrites the registry file",
        (("s3:ListBucket", "bucket"), ("s3:GetObject", "object"), ("s3:PutObject", "object")),
        _BOTH_KEYS,
        ("storage.buckets.get", "storage.objects.get", "storage.objects.create", "storage.objects.delete"),
        folder=False,
    ),
}
"""Operations on a location and the calls each makes (pyarrow 25 s3fs/gcsfs, boto3, mlflow, feast)."""

_FEAST_REGISTRY = {"file:feature_store.yaml:registry.path", "file:feature_store.yaml:registry"}
_AUDIT = {"env:MLOPS_AUDIT_LOG": "put"}
_TRAINING = {"file:spec.json:data": "read", "flag:--data": "read", **_AUDIT}

WORKLOAD_USES: dict[str, dict[str, str]] = {
    "mlops serve": {"env:MLOPS_PREDICTION_LOG_URI": "append"},
    "mlops train": _TRAINING,
    "python -m pulumi_mlops.runtime.training": _TRAINING,
    "mlops batch-predict": {
        "file:spec.json:input": "read",
        "file:spec.json:output": "write",
        "flag:--input": "read",
        "flag:--output": "write",
    },
    "mlops drift": {"flag:--window": "read", "flag:--labels": "read", "flag:--reference": "read", "flag:--out": "put"},
    "mlops retrain": {"flag:--window": "read", "flag:--data": "read", "flag:--out": "put", **_AUDIT},
    "mlflow server": {"flag:--artifacts-destination": "artifacts", "flag:--default-artifact-root": "artifacts"},
    "feast serve": dict.fromkeys(_FEAST_REGISTRY, "registry-read"),
    "feast materialize-incremental": dict.fromkeys(_FEAST_REGISTRY, "registry-write"),
    "feast materialize": dict.fromkeys(_FEAST_REGISTRY, "registry-write"),
    "feast apply": dict.fromkeys(_FEAST_REGISTRY, "registry-write"),
}
"""Runtime command -> where it is given a location -> operation. Locations a command is given but does not
use (a job's ``MLOPS_PREDICTION_LOG_URI``) need nothing; a command not listed here is taken to read every
location it is given."""


def operations_of(use: Use) -> list[str]:
    """Operations the commands receiving ``use`` perform on its location.

    An environment variable a known command does not list is one it does not read. A flag or spec-file key
    it does not list (a short flag, a new option) fails closed: every operation the command performs anywhere.
    """
    known = [c for c in use.commands if c in WORKLOAD_USES]
    if not known:
        return ["read"]
    found: set[str] = set()
    for command in known:
        table = WORKLOAD_USES[command]
        if use.where in table:
            found.add(table[use.where])
        elif not use.where.startswith("env:"):
            found.update(table.values() or ("read",))
    return sorted(found)


@dataclass
class _Bucket:
    scheme: str
    name: str
    res: PolicyResource
    project: str = ""


def _stack_buckets(graph: StackGraph) -> tuple[dict[tuple[str, str], _Bucket], list[PolicyResource]]:
    """Buckets of this stack by (scheme, name), and those without a name input (auto-named)."""
    found: dict[tuple[str, str], _Bucket] = {}
    unnamed: list[PolicyResource] = []
    for res in graph.of_type(S3_BUCKET, S3_BUCKET_V2, GCS_BUCKET):
        scheme, key = ("gs", "name") if res.resource_type == GCS_BUCKET else ("s3", "bucket")
        name = get(res.props, key)
        if not name:
            unnamed.append(res)
            continue
        found[(scheme, str(name))] = _Bucket(scheme, str(name), res, str(get(res.props, "project", "")))
    return found, unnamed


def _external(args: StackValidationArgs) -> set[str]:
    return {str(b) for b in config_value(args, "externalBuckets") or []}


@stack_policy(
    "bucket-uris-resolve",
    "Every s3:// or gs:// URI a workload's containers are given (arguments, environment, mounted ConfigMaps and "
    "Secrets) names a bucket this stack creates by name or one listed in externalBuckets.",
    (*WORKLOAD_TYPES, CONFIG_MAP, SECRET, S3_BUCKET, S3_BUCKET_V2, GCS_BUCKET),
    config=("externalBuckets",),
    registry=POLICIES,
)
def _uris_resolve(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    graph = StackGraph(args.resources)
    buckets, unnamed = _stack_buckets(graph)
    external = _external(args)
    seen: set[tuple[str, str, str]] = set()
    for use in workload_uses(graph):
        loc = use.location
        if (loc.scheme, loc.bucket) in buckets or loc.bucket in external:
            continue
        if (use.template.owner.urn, use.where, loc.uri) in seen:
            continue
        seen.add((use.template.owner.urn, use.where, loc.uri))
        names = sorted(b.name for b in buckets.values() if b.scheme == loc.scheme)
        hint = ""
        auto = [r.name for r in unnamed if (r.resource_type == GCS_BUCKET) == (loc.scheme == "gs")]
        if auto:
            hint = f"; buckets {', '.join(auto)} have no name input, so nothing can be matched to them: name them"
        report_violation(
            f"{use.workload} is given {loc.uri} ({use.source}), but bucket {loc.bucket!r} is neither created by "
            f"this stack (its {loc.scheme}:// buckets: {', '.join(names) or 'none'}) nor listed in "
            f"buckets.external: point it at a platform bucket or declare the bucket as external{hint}",
            use.template.owner.urn,
        )


def _object_key(location_key: str, operation: Operation) -> tuple[str, str]:
    """The object key a grant must cover and the prefix the runtime lists, for a location."""
    key = location_key
    if not operation.folder or key.rsplit("/", 1)[-1].count("."):
        return key, key
    folder = f"{key.rstrip('/')}/" if key.strip("/") else ""
    return f"{folder}part-00000.parquet", folder


def _s3_missing(identity: Identity, bucket: _Bucket, graph: StackGraph, use: Use, operation: Operation) -> list[str]:
    arn = f"arn:aws:s3:::{bucket.name}"
    obj, prefix = _object_key(use.location.key, operation)
    base = {"aws:SecureTransport": "true", "aws:PrincipalArn": identity.arn}
    principal = ("AWS", identity.arn)
    bucket_docs = s3_documents(graph, bucket.res)
    missing = []
    for action, target in operation.s3:
        if target == "object":
            req, shown = Request(action, f"{arn}/{obj}", principal, base), f"{arn}/{prefix or obj}*"
        elif target == "listing":
            req, shown = Request(action, arn, principal, {**base, "s3:prefix": prefix}), f"{arn} (prefix {prefix!r})"
        else:
            req, shown = Request(action, arn, principal, base), arn
        decision = evaluate(req, identity.documents, bucket_docs, identity.boundary)
        if not decision.allowed:
            missing.append(f"{action} on {shown} ({decision.reason})")
    key_arn, key_docs, iam_enabled = kms_documents(graph, bucket.res)
    if key_arn:
        for action in operation.kms:
            req = Request(action, key_arn, principal, base)
            decision = evaluate(req, identity.documents if iam_enabled else [], key_docs, identity.boundary)
            if not decision.allowed:
                missing.append(f"{action} on the bucket key {key_arn} ({decision.reason})")
    return missing


def _gcs_missing(identity: Identity, bucket: _Bucket, graph: StackGraph, operation: Operation) -> list[str]:
    granted = gcs_grants(graph, identity, bucket.name, bucket.project)
    return [p for p in operation.gcs if not any(glob_match(pattern, p) for pattern in granted)]


_GCS_OBJECT_ROLES = ("roles/storage.objectViewer", "roles/storage.objectCreator", "roles/storage.objectUser")
_BUCKET_METADATA = "roles/storage.legacyBucketReader"


def _gcs_fix(missing: list[str]) -> list[str]:
    """The fewest predefined roles, least first, that add the missing permissions on one bucket."""
    objects = {p for p in missing if p.startswith("storage.objects.")}
    roles = []
    if "storage.buckets.get" in missing:
        roles.append(_BUCKET_METADATA)
        objects -= GCS_ROLE_PERMISSIONS[_BUCKET_METADATA]
    if objects:
        roles.append(
            next((r for r in _GCS_OBJECT_ROLES if objects <= GCS_ROLE_PERMISSIONS[r]), "roles/storage.objectAdmin")
        )
    return roles or ["a role that carries them"]


def _identity_for(graph: StackGraph, use: Use, scheme: str) -> Identity:
    sa = str(get(use.template.spec, "serviceAccountName", "") or get(use.template.spec, "serviceAccount", ""))
    sa = sa or "default"
    if scheme == "s3":
        return aws_identity(graph, use.template.namespace, sa)
    return gke_identity(graph, use.template.namespace, sa)


@stack_policy(
    "bucket-access-granted",
    "Every workload's cloud identity may make the storage calls its runtime command makes on each location it "
    "is given in a bucket of this stack (S3 actions and SSE-KMS key use, or Cloud Storage permissions).",
    (*WORKLOAD_TYPES, CONFIG_MAP, SECRET, S3_BUCKET, S3_BUCKET_V2, GCS_BUCKET, *IDENTITY_TYPES),
    config=("externalBuckets",),
    registry=POLICIES,
)
def _access_granted(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    graph = StackGraph(args.resources)
    buckets, _ = _stack_buckets(graph)
    external = _external(args)
    seen: set[tuple[str, str, str, str]] = set()
    for use in workload_uses(graph):
        loc = use.location
        bucket = buckets.get((loc.scheme, loc.bucket))
        if bucket is None or loc.bucket in external:
            continue
        identity: Identity | None = None
        for name in operations_of(use):
            key = (use.template.owner.urn, use.container, loc.uri, name)
            if key in seen:
                continue
            seen.add(key)
            identity = identity or _identity_for(graph, use, loc.scheme)
            operation = OPERATIONS[name]
            doing = f"{use.workload} runs `{' / '.join(use.commands)}` with {loc.uri} ({use.source}), which"
            if identity.external:
                continue
            if identity.problem:
                report_violation(
                    f"{doing} {operation.description}, but {identity.problem}: {identity.fix}",
                    use.template.owner.urn,
                )
                continue
            if loc.scheme == "s3":
                missing = _s3_missing(identity, bucket, graph, use, operation)
                fix = f"allow them in a policy of {identity.label}"
            else:
                missing = _gcs_missing(identity, bucket, graph, operation)
                fix = f"grant {' and '.join(_gcs_fix(missing))} on bucket {bucket.name} to {identity.member}"
            if missing:
                report_violation(
                    f"{doing} {operation.description}, but {identity.label} lacks {'; '.join(missing)}: {fix}",
                    use.template.owner.urn,
                )

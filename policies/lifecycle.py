"""Deploy readiness, lifecycle: the stack survives ``pulumi destroy`` followed by ``pulumi up``.

Some clouds keep a name after the resource is gone, or scope it to the whole account; a fixed name
then breaks the next ``up`` (or another environment's). Each rule cites what states the retention:

- AWS KMS aliases are unique per account and Region ("The alias must be unique in the account and
  Region", KMS API reference, CreateAlias): an alias must carry the stack's environment as a name
  segment, or derive from a random resource of the stack, or come from ``namePrefix``. Otherwise the
  second environment in an account fails with ``AlreadyExistsException``.
- GCP KMS key rings and crypto keys cannot be deleted ("KeyRings cannot be deleted from Google Cloud
  Platform. Destroying a provider-managed KeyRing will remove it from state but will not delete the
  resource", Pulumi GCP ``kms.KeyRing``; the same for ``kms.CryptoKey``): after ``destroy`` the next
  ``up`` with the same name fails with 409 AlreadyExists. Their names must derive from a random
  resource of the stack (a crypto key may instead sit in such a key ring), so every ``up`` after a
  ``destroy`` makes new ones, as the terraform-google-modules/kms fixtures do (``random_pet`` key
  ring names). Protecting or retaining them instead would need an import on the next ``up`` that
  the resource graph cannot show, so it is not accepted.
- AWS Secrets Manager keeps a deleted secret, and its name, for a recovery window of 7 to 30 days
  (default 30; DeleteSecret API reference): a fixed ``name`` needs ``namePrefix`` or a random part,
  or ``recoveryWindowInDays: 0`` (accepted in dev stacks only: it deletes without recovery).
- Cloud SQL: "after a name is used, it cannot be reused for up to one week" (Google provider,
  ``sql_database_instance.name``): an explicit instance name needs a random part.
- A final snapshot outlives its RDS instance or cluster (or ElastiCache group); a fixed
  ``finalSnapshotIdentifier`` makes the second ``destroy`` fail with ``DBSnapshotAlreadyExists``.
  With ``skipFinalSnapshot`` false the identifier must derive from a random resource (as
  Terraform Aurora/RDS modules do with ``random_id.snapshot_identifier``), and must be set at all:
  the provider refuses to delete an instance without one.

Names the cloud frees at deletion are not checked: ECR and Artifact Registry repositories, Secret
Manager secrets, GCP service accounts, CloudWatch log groups.

A name "derives from a random resource" when its property dependencies reach a
``random:index/randomId:RandomId`` (``RandomString``, ``RandomPet``), directly or through the name
of a key ring it sits in. The random resource is checked before the value is read, so a name still
unknown during a first preview does not downgrade the check.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pulumi_policy import Policy, PolicyResource, ReportViolation, StackValidationArgs

from ._base import _stack_name, config_value, get, is_true, profile_of, stack_policy
from ._graph import StackGraph

__all__ = ["NAME_SOURCES", "POLICIES", "RANDOM_TYPES", "RESOURCE_TYPES", "derives_from_random", "has_segment"]

RANDOM_ID = "random:index/randomId:RandomId"
RANDOM_STRING = "random:index/randomString:RandomString"
RANDOM_PET = "random:index/randomPet:RandomPet"
RANDOM_TYPES = (RANDOM_ID, RANDOM_STRING, RANDOM_PET)
"""Resources whose value is drawn once per stack and drawn again after a ``destroy``."""

KMS_ALIAS = "aws:kms/alias:Alias"
KEY_RING = "gcp:kms/keyRing:KeyRing"
CRYPTO_KEY = "gcp:kms/cryptoKey:CryptoKey"
SM_SECRET = "aws:secretsmanager/secret:Secret"
SQL_INSTANCE = "gcp:sql/databaseInstance:DatabaseInstance"
RDS_INSTANCE = "aws:rds/instance:Instance"
RDS_CLUSTER = "aws:rds/cluster:Cluster"
CACHE_GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"

RESOURCE_TYPES: tuple[str, ...] = (
    KMS_ALIAS,
    KEY_RING,
    CRYPTO_KEY,
    SM_SECRET,
    SQL_INSTANCE,
    RDS_INSTANCE,
    RDS_CLUSTER,
    CACHE_GROUP,
    *RANDOM_TYPES,
)
"""Every resource type a policy of this module inspects."""

POLICIES: list[Policy] = []

NAME_SOURCES: dict[str, tuple[str, ...]] = {KEY_RING: ("name",), CRYPTO_KEY: ("name", "keyRing")}
"""Properties that make up the physical name of resources other names are built from (a crypto key's
id is its key ring's id plus its own name)."""

SNAPSHOT_SKIPPABLE = (RDS_INSTANCE, RDS_CLUSTER)
"""Types whose ``skipFinalSnapshot`` defaults to false, so a destroy takes a final snapshot."""


def derives_from_random(
    graph: StackGraph, res: PolicyResource, props: Sequence[str], _seen: frozenset[str] = frozenset()
) -> bool:
    """Whether ``res``'s ``props`` depend on a random resource, directly or through the name of a
    resource listed in :data:`NAME_SOURCES` (a key ring)."""
    for prop in props:
        for dep in res.property_dependencies.get(prop, []):
            found = graph.by_urn.get(dep.urn, dep)
            if found.resource_type in RANDOM_TYPES:
                return True
            sources = NAME_SOURCES.get(found.resource_type)
            if sources and found.urn not in _seen and derives_from_random(graph, found, sources, _seen | {res.urn}):
                return True
    return False


def has_segment(name: str, word: str) -> bool:
    """``word`` is a whole segment of ``name`` (between ``/``, ``-``, ``_``, ``.`` or the ends)."""
    return bool(word) and re.search(rf"(^|[/_.-]){re.escape(word)}($|[/_.-])", name) is not None


@stack_policy(
    "kms-alias-unique-per-stack",
    "Every AWS KMS alias name carries the stack's environment as a name segment, derives from a random "
    "resource of the stack, or is generated from namePrefix.",
    (KMS_ALIAS, *RANDOM_TYPES),
    config=("environment",),
    registry=POLICIES,
)
def _kms_alias_unique(args: StackValidationArgs, report: ReportViolation) -> None:
    graph = StackGraph(args.resources)
    environment = str(config_value(args, "environment") or _stack_name())
    for alias in graph.of_type(KMS_ALIAS):
        if derives_from_random(graph, alias, ("name",)):
            continue
        name = get(alias.props, "name")
        if name is None or has_segment(str(name), environment):
            continue
        report(
            f"KMS alias {alias.name} is named {name!r}: an alias must be unique in the AWS account and Region, "
            f"so the same alias of another environment makes this 'up' fail with AlreadyExistsException; "
            f"put the environment ({environment or 'the stack name'}) or a random_id suffix of this stack "
            "into the alias name.",
            alias.urn,
        )


@stack_policy(
    "gcp-kms-names-fresh-after-destroy",
    "Every GCP KMS key ring name, and every crypto key name unless its key ring's is, derives from a "
    "random resource of the stack.",
    (KEY_RING, CRYPTO_KEY, *RANDOM_TYPES),
    registry=POLICIES,
)
def _gcp_kms_fresh(args: StackValidationArgs, report: ReportViolation) -> None:
    graph = StackGraph(args.resources)
    for res in graph.of_type(KEY_RING, CRYPTO_KEY):
        if derives_from_random(graph, res, NAME_SOURCES[res.resource_type]):
            continue
        kind = "key ring" if res.resource_type == KEY_RING else "crypto key"
        report(
            f"GCP KMS {kind} {res.name} is named {get(res.props, 'name', res.name)!r} with no random part: "
            f"Cloud KMS never deletes a {kind}, so after 'pulumi destroy' the next 'up' fails with 409 "
            "AlreadyExists; build the name from a random.RandomId of this stack (parented to the component)"
            + (" or put the key in a key ring named that way." if kind == "crypto key" else "."),
            res.urn,
        )


@stack_policy(
    "secret-name-reusable-after-destroy",
    "Every AWS Secrets Manager secret is named by namePrefix or by a name derived from a random resource of "
    "the stack, or (dev stacks only) has recoveryWindowInDays 0.",
    (SM_SECRET, *RANDOM_TYPES),
    config=("profile",),
    registry=POLICIES,
)
def _secret_reusable(args: StackValidationArgs, report: ReportViolation) -> None:
    graph = StackGraph(args.resources)
    profile = profile_of(args)
    for secret in graph.of_type(SM_SECRET):
        if derives_from_random(graph, secret, ("name",)):
            continue
        name = get(secret.props, "name")
        if name is None:
            continue
        window = get(secret.props, "recoveryWindowInDays")
        immediate = window is not None and float(window) == 0
        if immediate and profile == "dev":
            continue
        why = (
            f"recoveryWindowInDays 0 is accepted in dev stacks only, and this is a {profile} stack"
            if immediate
            else f"Secrets Manager keeps a deleted secret's name for its recovery window "
            f"({int(float(window)) if window is not None else 30} days)"
        )
        report(
            f"Secrets Manager secret {secret.name} has the fixed name {name!r}: {why}, so the 'up' after a "
            "'pulumi destroy' fails with 'a secret with this name is already scheduled for deletion'; "
            "use namePrefix (or a random_id suffix of this stack) instead of name.",
            secret.urn,
        )


@stack_policy(
    "cloudsql-instance-name-fresh",
    "Every Cloud SQL instance with an explicit name derives it from a random resource of the stack.",
    (SQL_INSTANCE, *RANDOM_TYPES),
    registry=POLICIES,
)
def _cloudsql_fresh(args: StackValidationArgs, report: ReportViolation) -> None:
    graph = StackGraph(args.resources)
    for instance in graph.of_type(SQL_INSTANCE):
        if derives_from_random(graph, instance, ("name",)):
            continue
        name = get(instance.props, "name")
        if name is None:
            continue
        report(
            f"Cloud SQL instance {instance.name} is named {name!r} with no random part: a deleted instance's "
            "name cannot be reused for up to a week, so the 'up' after a 'pulumi destroy' fails; "
            "append a random.RandomId of this stack (parented to the component) to the name.",
            instance.urn,
        )


@stack_policy(
    "final-snapshot-unique-per-destroy",
    "Every RDS instance or cluster that takes a final snapshot, and every ElastiCache group that names one, "
    "derives finalSnapshotIdentifier from a random resource of the stack.",
    (RDS_INSTANCE, RDS_CLUSTER, CACHE_GROUP, *RANDOM_TYPES),
    registry=POLICIES,
)
def _final_snapshot_unique(args: StackValidationArgs, report: ReportViolation) -> None:
    graph = StackGraph(args.resources)
    for res in graph.of_type(RDS_INSTANCE, RDS_CLUSTER, CACHE_GROUP):
        if res.resource_type in SNAPSHOT_SKIPPABLE and is_true(get(res.props, "skipFinalSnapshot")):
            continue
        if derives_from_random(graph, res, ("finalSnapshotIdentifier",)):
            continue
        snapshot = get(res.props, "finalSnapshotIdentifier")
        if snapshot is None:
            if res.resource_type in SNAPSHOT_SKIPPABLE:
                report(
                    f"{res.name} takes a final snapshot (skipFinalSnapshot is false) but sets no "
                    "finalSnapshotIdentifier: 'pulumi destroy' fails; set finalSnapshotIdentifier from a "
                    "random.RandomId of this stack, or skipFinalSnapshot: true.",
                    res.urn,
                )
            continue
        fault = "SnapshotAlreadyExistsFault" if res.resource_type == CACHE_GROUP else "DBSnapshotAlreadyExists"
        report(
            f"{res.name} names its final snapshot {snapshot!r}: the snapshot outlives the database, so the "
            f"second 'pulumi destroy' fails with {fault}; append a random.RandomId of this "
            "stack (parented to the component) to finalSnapshotIdentifier.",
            res.urn,
        )

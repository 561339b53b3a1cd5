"""Lifecycle readiness: names the clouds keep (or scope to the account) never block the next ``up``.

Every test starts from a real stack's graph and breaks one thing: a fixed name where the component
derives one from a random suffix, a cut dependency on that suffix, a dropped snapshot identifier.
"""

from __future__ import annotations

import pytest
from pulumi_mlops.policies.offline import PolicyReport, Violation
from pulumi_policy import EnforcementLevel

from pulumi_mlops.preview import ResourceGraph

from .readiness import Previews, baseline, cut_dependencies, named, run

AWS_STACKS = ["dev", "staging", "prod"]
GCP_STACKS = ["gcp-dev", "gcp-prod"]

ALIAS = "kms-alias-unique-per-stack"
GCP_KMS = "gcp-kms-names-fresh-after-destroy"
SECRET = "secret-name-reusable-after-destroy"
CLOUDSQL = "cloudsql-instance-name-fresh"
SNAPSHOT = "final-snapshot-unique-per-destroy"


def only(report: PolicyReport, policy: str) -> Violation:
    """The one violation of ``policy``; it must be mandatory."""
    found = [v for v in report.violations if v.policy == policy]
    assert len(found) == 1, [f"{v.resource_name}: {v.message}" for v in report.violations]
    assert found[0].level == EnforcementLevel.MANDATORY.value and not found[0].unknown
    return found[0]


@pytest.mark.parametrize(
    ("stack", "policy"),
    [(s, p) for s in AWS_STACKS for p in (ALIAS, SECRET, SNAPSHOT)]
    + [(s, p) for s in GCP_STACKS for p in (GCP_KMS, CLOUDSQL)],
)
def test_real_stacks_are_silent(previews: Previews, stack: str, policy: str) -> None:
    graph, spec = baseline(previews, stack)
    report = run(graph, spec, policy)
    assert report.violations == []


# --- AWS KMS aliases ------------------------------------------------------------------------------------------


def test_alias_without_the_environment_collides_across_environments(previews: Previews) -> None:
    graph, spec = baseline(previews, "staging")
    named(graph, "mlops-buckets-key-alias").inputs["name"] = "alias/mlops-buckets-buckets"
    v = only(run(graph, spec, ALIAS), ALIAS)
    assert v.resource_name == "mlops-buckets-key-alias"
    assert "'alias/mlops-buckets-buckets'" in v.message and "AlreadyExistsException" in v.message
    assert "(staging)" in v.message and "random_id" in v.message


def test_environment_must_be_a_whole_name_segment(previews: Previews) -> None:
    graph, spec = baseline(previews, "dev")
    named(graph, "mlops-buckets-key-alias").inputs["name"] = "alias/mlops-devices-buckets"
    v = only(run(graph, spec, ALIAS), ALIAS)
    assert v.resource_name == "mlops-buckets-key-alias" and "'alias/mlops-devices-buckets'" in v.message


def test_alias_derived_from_a_random_suffix_is_unique(previews: Previews) -> None:
    graph, spec = baseline(previews, "prod")
    alias = named(graph, "mlops-buckets-key-alias")
    suffix = named(graph, "mlops-tracking-final-snapshot-suffix")
    alias.inputs["name"] = "alias/mlops-buckets-buckets-734f7a9d"
    alias.property_dependencies["name"] = [suffix.urn]
    alias.dependencies.append(suffix.urn)
    assert run(graph, spec, ALIAS).violations == []


# --- GCP KMS key rings and keys -------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", GCP_STACKS)
def test_key_ring_without_its_random_suffix_cannot_follow_a_destroy(previews: Previews, stack: str) -> None:
    graph, spec = baseline(previews, stack)
    ring = named(graph, "mlops-buckets-keyring")
    ring.inputs["name"] = "mlops-buckets-buckets"
    cut_dependencies(ring, [named(graph, "mlops-buckets-keyring-suffix").urn])
    report = run(graph, spec, GCP_KMS)
    found = {v.resource_name: v for v in report.violations}
    assert set(found) == {"mlops-buckets-keyring", "mlops-buckets-key"}, [v.message for v in report.violations]
    assert all(v.level == EnforcementLevel.MANDATORY.value for v in found.values())
    assert "key ring mlops-buckets-keyring" in found["mlops-buckets-keyring"].message
    assert "409 AlreadyExists" in found["mlops-buckets-keyring"].message
    assert "put the key in a key ring named that way" in found["mlops-buckets-key"].message


def test_crypto_key_outside_a_fresh_key_ring_needs_its_own_random_name(previews: Previews) -> None:
    graph, spec = baseline(previews, "gcp-dev")
    key = named(graph, "mlops-gke-secrets-key")
    cut_dependencies(key, [named(graph, "mlops-gke-keyring").urn])
    key.inputs["keyRing"] = "projects/acme-ml-dev/locations/europe-west4/keyRings/shared"
    v = only(run(graph, spec, GCP_KMS), GCP_KMS)
    assert v.resource_name == "mlops-gke-secrets-key"
    assert "crypto key mlops-gke-secrets-key is named 'mlops-gcp-dev-gke-secrets'" in v.message


# --- Secrets Manager ------------------------------------------------------------------------------------------


def _fixed_name(graph: ResourceGraph, resource: str, name: str) -> None:
    """Replace the secret's ``namePrefix`` with a fixed ``name``."""
    secret = named(graph, resource)
    del secret.inputs["namePrefix"]
    secret.inputs["name"] = name


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_fixed_secret_name_is_kept_for_the_recovery_window(previews: Previews, stack: str) -> None:
    graph, spec = baseline(previews, stack)
    _fixed_name(graph, "mlops-tracking-credentials", f"mlops-{stack}-mlflow/mlflow-db")
    v = only(run(graph, spec, SECRET), SECRET)
    assert v.resource_name == "mlops-tracking-credentials"
    assert f"'mlops-{stack}-mlflow/mlflow-db'" in v.message and "(30 days)" in v.message
    assert "use namePrefix" in v.message


def test_immediate_deletion_frees_the_name_in_dev_only(previews: Previews) -> None:
    graph, spec = baseline(previews, "dev")
    _fixed_name(graph, "mlops-online-store-auth", "mlops-dev-feast/feast-redis")
    named(graph, "mlops-online-store-auth").inputs["recoveryWindowInDays"] = 0.0
    assert run(graph, spec, SECRET).violations == []

    graph, spec = baseline(previews, "prod")
    _fixed_name(graph, "mlops-online-store-auth", "mlops-prod-feast/feast-redis")
    named(graph, "mlops-online-store-auth").inputs["recoveryWindowInDays"] = 0.0
    v = only(run(graph, spec, SECRET), SECRET)
    assert v.resource_name == "mlops-online-store-auth"
    assert "accepted in dev stacks only, and this is a prod stack" in v.message


# --- Cloud SQL ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", GCP_STACKS)
def test_cloudsql_name_without_random_suffix_is_blocked_for_a_week(previews: Previews, stack: str) -> None:
    graph, spec = baseline(previews, stack)
    instance = named(graph, "mlops-tracking-instance")
    instance.inputs["name"] = f"mlops-{stack}-mlflow"
    cut_dependencies(instance, [named(graph, "mlops-tracking-instance-suffix").urn])
    v = only(run(graph, spec, CLOUDSQL), CLOUDSQL)
    assert v.resource_name == "mlops-tracking-instance"
    assert f"'mlops-{stack}-mlflow'" in v.message and "up to a week" in v.message and "RandomId" in v.message


# --- Final snapshots ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_fixed_final_snapshot_fails_the_second_destroy(previews: Previews, stack: str) -> None:
    graph, spec = baseline(previews, stack)
    db = named(graph, "mlops-tracking-db")
    db.inputs["finalSnapshotIdentifier"] = f"mlops-{stack}-mlflow-db-final"
    cut_dependencies(db, [named(graph, "mlops-tracking-final-snapshot-suffix").urn])
    v = only(run(graph, spec, SNAPSHOT), SNAPSHOT)
    assert v.resource_name == "mlops-tracking-db"
    assert f"'mlops-{stack}-mlflow-db-final'" in v.message and "DBSnapshotAlreadyExists" in v.message


def test_final_snapshot_without_identifier_fails_the_destroy(previews: Previews) -> None:
    graph, spec = baseline(previews, "prod")
    db = named(graph, "mlops-tracking-db")
    del db.inputs["finalSnapshotIdentifier"]
    cut_dependencies(db, [named(graph, "mlops-tracking-final-snapshot-suffix").urn])
    v = only(run(graph, spec, SNAPSHOT), SNAPSHOT)
    assert v.resource_name == "mlops-tracking-db" and "sets no finalSnapshotIdentifier" in v.message


def test_skipped_final_snapshot_needs_no_unique_identifier(previews: Previews) -> None:
    graph, spec = baseline(previews, "dev")
    db = named(graph, "mlops-tracking-db")
    assert db.inputs["skipFinalSnapshot"] is True
    db.inputs["finalSnapshotIdentifier"] = "mlops-dev-mlflow-db-final"
    assert run(graph, spec, SNAPSHOT).violations == []
    db.inputs["skipFinalSnapshot"] = False
    assert only(run(graph, spec, SNAPSHOT), SNAPSHOT).resource_name == "mlops-tracking-db"


def test_fixed_redis_final_snapshot_is_flagged(previews: Previews) -> None:
    graph, spec = baseline(previews, "staging")
    named(graph, "mlops-online-store-redis").inputs["finalSnapshotIdentifier"] = "mlops-staging-feast-final"
    v = only(run(graph, spec, SNAPSHOT), SNAPSHOT)
    assert v.resource_name == "mlops-online-store-redis" and "SnapshotAlreadyExistsFault" in v.message

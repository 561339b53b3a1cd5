"""Deploy readiness, what outlives the pods: the audit log and the drift reports are written to buckets, so
the workloads that write them need the grants (``bucket-access-granted``). Each check starts from a real
stack's graph and removes one grant."""

from __future__ import annotations

import json

import pytest
from pulumi_mlops.policies.offline import PolicyReport
from pulumi_mlops.policies.references import WORKLOAD_USES

from pulumi_mlops.preview import ResourceGraph

from .readiness import Previews, baseline, drop, named, run

GRANTED = "bucket-access-granted"
STACKS = ["dev", "staging", "prod", "gcp-dev", "gcp-prod"]
LOGS = "mlops-dev-prediction-logs-123456789012-us-east-1"
MODELS = "mlops-dev-models-123456789012-us-east-1"
DRIFT_JOBS = {"mlops-services-drift-churn-cronjob", "mlops-services-drift-churn-gpu-cronjob"}


def only(report: PolicyReport) -> list[tuple[str, str]]:
    found = [v for v in report.violations if v.policy == GRANTED]
    assert all(v.mandatory for v in found), [v.message for v in found if not v.mandatory]
    return [(v.resource_name, v.message) for v in found]


def _without_statement(graph: ResourceGraph, policy: str, sid: str) -> None:
    res = named(graph, policy)
    doc = json.loads(res.inputs["policy"])
    kept = [st for st in doc["Statement"] if st.get("Sid") != sid]
    assert len(kept) == len(doc["Statement"]) - 1, f"{policy} has no statement {sid}"
    res.inputs["policy"] = json.dumps({**doc, "Statement": kept})


@pytest.mark.parametrize("stack", STACKS)
def test_real_stacks_grant_the_writes_of_reports_and_audit_events(stack: str, previews: Previews) -> None:
    graph, spec = baseline(previews, stack)
    assert only(run(graph, spec, GRANTED)) == []


def test_the_runtime_commands_that_persist_are_in_the_table() -> None:
    assert WORKLOAD_USES["mlops drift"]["flag:--out"] == "put"
    for command in ("mlops train", "python -m pulumi_mlops.runtime.training", "mlops retrain"):
        assert WORKLOAD_USES[command]["env:MLOPS_AUDIT_LOG"] == "put", command
    assert "env:MLOPS_AUDIT_LOG" not in WORKLOAD_USES["mlops batch-predict"], "batch scoring audits nothing"


def test_drift_reports_need_put_under_their_prefix(previews: Previews) -> None:
    graph, spec = baseline(previews, "dev")
    _without_statement(graph, "mlops-identity-drift-policy", "ObjectsPredictionLogsDriftReports")
    found = dict(only(run(graph, spec, GRANTED)))
    assert set(found) == DRIFT_JOBS
    message = found["mlops-services-drift-churn-cronjob"]
    assert f"runs `mlops drift` with s3://{LOGS}/drift-reports/churn (argument --out), which creates new objects" in (
        message
    )
    assert f"lacks s3:PutObject on arn:aws:s3:::{LOGS}/drift-reports/churn/* (no statement allows it)" in message
    assert "allow them in a policy of IAM role mlops-identity-drift" in message


def test_the_retraining_trigger_needs_to_write_its_audit_events(previews: Previews) -> None:
    graph, spec = baseline(previews, "dev")
    _without_statement(graph, "mlops-identity-drift-policy", "ObjectsModelsAudit")
    found = only(run(graph, spec, GRANTED))
    assert {r for r, _ in found} == DRIFT_JOBS
    for _, message in found:
        assert f"runs `mlops drift / mlops retrain` with s3://{MODELS}/audit (variable MLOPS_AUDIT_LOG)" in message
        assert f"lacks s3:PutObject on arn:aws:s3:::{MODELS}/audit/*" in message


def test_writing_new_objects_needs_generate_data_key(previews: Previews) -> None:
    graph, spec = baseline(previews, "staging")
    res = named(graph, "mlops-identity-drift-policy")
    doc = json.loads(res.inputs["policy"])
    for st in doc["Statement"]:
        if st.get("Sid") == "BucketKey":
            st["Action"] = ["kms:Decrypt"]
    res.inputs["policy"] = json.dumps(doc)
    found = only(run(graph, spec, GRANTED))
    assert found and {r for r, _ in found} <= DRIFT_JOBS
    assert all("kms:GenerateDataKey on the bucket key arn:aws:kms:" in m for _, m in found)


def test_on_gcs_the_drift_job_must_create_objects_in_the_models_bucket(previews: Previews) -> None:
    graph, spec = baseline(previews, "gcp-dev")
    drop(graph, named(graph, "mlops-identity-drift-models"))
    found = only(run(graph, spec, GRANTED))
    assert found
    for resource, message in found:
        assert resource.startswith("mlops-services-drift-")
        assert "(variable MLOPS_AUDIT_LOG), which creates new objects" in message
        assert "lacks storage.objects.create: grant roles/storage.objectCreator on bucket mlops-gcp-dev-models-" in (
            message
        )


def test_training_pods_audit_their_registrations(previews: Previews) -> None:
    graph, spec = baseline(previews, "dev")
    res = named(graph, "mlops-identity-trainer-policy")
    doc = json.loads(res.inputs["policy"])
    for st in doc["Statement"]:
        if st.get("Sid") == "ObjectsModels":
            st["Action"] = [a for a in st["Action"] if a != "s3:PutObject"]
    res.inputs["policy"] = json.dumps(doc)
    found = dict(only(run(graph, spec, GRANTED)))
    assert {"mlops-services-training-churn-cronjob", "mlops-services-training-churn-mlp-cronjob"} <= set(found)
    assert "runs `mlops train` with s3://" in found["mlops-services-training-churn-cronjob"]
    assert (
        "runs `python -m pulumi_mlops.runtime.training` with s3://"
        in (found["mlops-services-training-churn-mlp-cronjob"])
    )
    assert "mlops-services-batch-churn-nightly-cronjob" not in found, "batch scoring is given the log, audits nothing"
    for message in found.values():
        assert (
            "(variable MLOPS_AUDIT_LOG)" in message and f"lacks s3:PutObject on arn:aws:s3:::{MODELS}/audit" in message
        )

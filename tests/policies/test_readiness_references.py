"""Deploy readiness, references: bucket URIs resolve and workload identities may use them.

Each check starts from a real stack's graph and breaks one thing; the evaluator's IAM semantics are
checked on small documents.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi_mlops.policies._iam import GCS_ROLE_PERMISSIONS, Document, Request, evaluate, glob_match
from pulumi_mlops.policies.offline import PolicyReport

from pulumi_mlops.preview import CapturedResource, ResourceGraph, run_program
from pulumi_mlops.preview.mocks import PlatformMocks
from pulumi_mlops.spec import CONFIG_KEY, PlatformSpec, parse_spec

from .readiness import Previews, baseline, drop, first, named, run

RESOLVE = "bucket-uris-resolve"
GRANTED = "bucket-access-granted"
STACKS = ["dev", "staging", "prod", "gcp-dev", "gcp-prod"]
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
CRON_JOB = "kubernetes:batch/v1:CronJob"
GCS_MEMBER = "gcp:storage/bucketIAMMember:BucketIAMMember"
S3_BUCKET = "aws:s3/bucket:Bucket"
GCS_BUCKET = "gcp:storage/bucket:Bucket"
DATASETS = "arn:aws:s3:::mlops-dev-datasets-123456789012-us-east-1"
ROOT = Path(__file__).resolve().parents[2]


def only(report: PolicyReport, policy: str) -> list[tuple[str, str]]:
    """(resource, message) of the policy's violations, each asserted mandatory."""
    found = [v for v in report.violations if v.policy == policy]
    assert all(v.mandatory for v in found), [v.message for v in found if not v.mandatory]
    return [(v.resource_name, v.message) for v in found]


def edit_json(res: CapturedResource, key: str, change: Callable[[dict[str, Any]], None]) -> None:
    doc = json.loads(res.inputs[key])
    change(doc)
    res.inputs[key] = json.dumps(doc)


def statement(doc: dict[str, Any], sid: str) -> dict[str, Any]:
    return next(st for st in doc["Statement"] if st.get("Sid") == sid)


def batch_spec(graph: ResourceGraph) -> CapturedResource:
    return first(graph, CONFIG_MAP, lambda r: r.inputs["metadata"]["name"] == "batch-churn-nightly-spec")


# --- the real stacks are the valid baseline -------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_real_stacks_reference_their_own_buckets_and_grant_what_the_runtime_calls(
    stack: str, previews: Previews
) -> None:
    graph, spec = baseline(previews, stack)
    report = run(graph, spec, RESOLVE, GRANTED)
    assert [f"{v.policy} {v.resource_name}: {v.message}" for v in report.violations] == []


@pytest.mark.parametrize("stack", ["dev", "gcp-prod"])
def test_buckets_are_named_so_references_can_be_matched(stack: str, previews: Previews) -> None:
    graph, spec = baseline(previews, stack)
    key, type_ = ("bucket", S3_BUCKET) if spec.cloud == "aws" else ("name", GCS_BUCKET)
    names = sorted(b.inputs[key] for b in graph.of_type(type_))
    scope = "123456789012-us-east-1" if spec.cloud == "aws" else spec.gcp_project
    stem = f"{spec.name}-{spec.environment}"
    assert names == [f"{stem}-{role}-{scope}" for role in ("datasets", "models", "prediction-logs")]


# --- bucket-uris-resolve ----------------------------------------------------------------------------------------


def test_batch_output_in_a_bucket_the_stack_does_not_have(previews: Previews) -> None:
    graph, spec = baseline(previews, "prod")
    config = batch_spec(graph)
    data = config.inputs["data"]
    spec_json = json.loads(data["spec.json"])
    spec_json["output"] = "s3://acme-ml-prod-datasets/scoring/churn-scores/"
    data["spec.json"] = json.dumps(spec_json)
    report = run(graph, spec, RESOLVE, GRANTED)
    ((resource, message),) = only(report, RESOLVE)
    assert resource == "mlops-services-batch-churn-nightly-cronjob"
    assert "is given s3://acme-ml-prod-datasets/scoring/churn-scores/ (spec.json output)" in message
    assert "bucket 'acme-ml-prod-datasets' is neither created by this stack" in message
    assert "mlops-prod-datasets-123456789012-us-east-1" in message, "names the buckets it could have meant"
    assert "declare the bucket as external" in message
    assert only(report, GRANTED) == [], "access to a bucket outside the stack is not judged"

    declared = {RESOLVE: {"externalBuckets": ["acme-ml-prod-datasets"]}}
    assert only(run(graph, spec, RESOLVE, config=declared), RESOLVE) == []


def test_an_auto_named_bucket_cannot_be_matched_and_the_message_says_so(previews: Previews) -> None:
    graph, spec = baseline(previews, "gcp-dev")
    logs = named(graph, "mlops-buckets-prediction-logs")
    del logs.inputs["name"]
    report = run(graph, spec, RESOLVE)
    found = only(report, RESOLVE)
    serving = [m for r, m in found if r == "mlops-services-endpoint-churn-stable-deployment"]
    assert len(serving) == 1
    assert "(variable MLOPS_PREDICTION_LOG_URI)" in serving[0]
    assert "buckets mlops-buckets-prediction-logs have no name input" in serving[0]


def test_uris_in_mounted_yaml_and_shell_scripts_are_found(previews: Previews) -> None:
    graph, spec = baseline(previews, "dev")
    feast = first(graph, CONFIG_MAP, lambda r: r.inputs["metadata"]["name"] == "feast-config")
    data = feast.inputs["data"]
    data["feature_store.yaml"] = data["feature_store.yaml"].replace("s3://mlops-dev-datasets-", "s3://old-datasets-")
    drift = first(graph, CRON_JOB, lambda r: r.inputs["metadata"]["name"] == "drift-churn")
    container = drift.inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    container["args"][0] = container["args"][0].replace("--window s3://mlops-dev-", "--window s3://legacy-")
    found = dict(only(run(graph, spec, RESOLVE), RESOLVE))
    assert set(found) == {"mlops-services-feast-deployment", "mlops-services-feast-materialize", drift.name}
    assert "(feature_store.yaml registry.path)" in found["mlops-services-feast-materialize"]
    assert "(argument --window)" in found[drift.name]


# --- bucket-access-granted: AWS --------------------------------------------------------------------------------


def test_batch_output_needs_delete_for_the_moves_into_place(previews: Previews) -> None:
    graph, spec = baseline(previews, "dev")
    policy = named(graph, "mlops-identity-trainer-policy")
    edit_json(policy, "policy", lambda d: statement(d, "ObjectsDatasets")["Action"].remove("s3:DeleteObject"))
    ((resource, message),) = only(run(graph, spec, GRANTED), GRANTED)
    assert resource == "mlops-services-batch-churn-nightly-cronjob"
    assert "runs `mlops batch-predict` with s3://mlops-dev-datasets-123456789012-us-east-1/scoring/churn-scores/" in (
        message
    )
    assert "IAM role mlops-identity-trainer (Pod Identity association mlops-identity-trainer-association)" in message
    assert f"lacks s3:DeleteObject on {DATASETS}/scoring/churn-scores/* (no statement allows it)" in message
    assert "allow them in a policy of IAM role mlops-identity-trainer" in message


def test_prediction_logs_need_head_bucket_for_pyarrow_create_dir(previews: Previews) -> None:
    graph, spec = baseline(previews, "dev")
    policy = named(graph, "mlops-identity-server-policy")
    edit_json(policy, "policy", lambda d: d["Statement"].remove(statement(d, "ListPredictionLogs")))
    found = only(run(graph, spec, GRANTED), GRANTED)
    assert len(found) == 4, "stable, canary, shadow: every serving track logs predictions"
    for resource, message in found:
        assert resource.startswith("mlops-services-endpoint-")
        assert "(variable MLOPS_PREDICTION_LOG_URI), which creates folders and writes new parquet parts" in message
        assert "lacks s3:ListBucket on arn:aws:s3:::mlops-dev-prediction-logs-123456789012-us-east-1 (" in message


def test_a_listing_limited_to_a_prefix_does_not_allow_head_bucket(previews: Previews) -> None:
    graph, spec = baseline(previews, "staging")
    policy = named(graph, "mlops-identity-feast-policy")
    condition = {"StringLike": {"s3:prefix": "features/*"}}
    edit_json(policy, "policy", lambda d: statement(d, "ListDatasets").update(Condition=condition))
    found = dict(only(run(graph, spec, GRANTED), GRANTED))
    assert set(found) == {"mlops-services-feast-deployment", "mlops-services-feast-materialize"}
    assert "runs `feast serve`" in found["mlops-services-feast-deployment"]
    head_bucket = "lacks s3:ListBucket on arn:aws:s3:::mlops-staging-datasets-123456789012-us-east-1 ("
    assert head_bucket in found["mlops-services-feast-materialize"]


def test_a_deny_in_the_bucket_policy_beats_the_role_allow(previews: Previews) -> None:
    graph, spec = baseline(previews, "dev")
    tls = named(graph, "mlops-buckets-datasets-tls-only")
    deny = {
        "Sid": "FreezeScores",
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": "s3:Put*",
        "Resource": f"{DATASETS}/scoring/*",
    }
    edit_json(tls, "policy", lambda d: d["Statement"].append(deny))
    ((resource, message),) = only(run(graph, spec, GRANTED), GRANTED)
    assert resource == "mlops-services-batch-churn-nightly-cronjob"
    assert "s3:PutObject on" in message
    assert "denied by bucket policy mlops-buckets-datasets-tls-only statement 'FreezeScores'" in message


def test_writers_need_generate_data_key_on_the_bucket_key(previews: Previews) -> None:
    graph, spec = baseline(previews, "prod")
    policy = named(graph, "mlops-identity-mlflow-policy")
    edit_json(policy, "policy", lambda d: statement(d, "BucketKey").update(Action="kms:Decrypt"))
    ((resource, message),) = only(run(graph, spec, GRANTED), GRANTED)
    assert resource == "mlops-services-mlflow-deployment"
    assert "runs `mlflow server` with s3://mlops-prod-models-123456789012-us-east-1/mlflow (argument" in message
    assert "kms:GenerateDataKey on the bucket key arn:aws:kms:" in message


def test_a_service_account_without_an_association_gets_no_role(previews: Previews) -> None:
    graph, spec = baseline(previews, "dev")
    drop(graph, named(graph, "mlops-identity-drift-association"))
    found = only(run(graph, spec, GRANTED), GRANTED)
    assert {r for r, _ in found} == {"mlops-services-drift-churn-cronjob", "mlops-services-drift-churn-gpu-cronjob"}
    for _, message in found:
        assert "ServiceAccount mlops-training/drift has no EKS Pod Identity association" in message
        assert "associate ServiceAccount mlops-training/drift with a workload role" in message


def test_a_role_the_pod_identity_agent_may_not_tag_sessions_of(previews: Previews) -> None:
    graph, spec = baseline(previews, "dev")
    role = named(graph, "mlops-identity-mlflow")
    edit_json(role, "assumeRolePolicy", lambda d: d["Statement"][0].update(Action="sts:AssumeRole"))
    ((resource, message),) = only(run(graph, spec, GRANTED), GRANTED)
    assert resource == "mlops-services-mlflow-deployment"
    assert "cannot be assumed: pods.eks.amazonaws.com may not sts:TagSession" in message


# --- bucket-access-granted: GCP --------------------------------------------------------------------------------


def _member(graph: ResourceGraph, name: str) -> CapturedResource:
    return first(graph, GCS_MEMBER, lambda r: r.name == name)


def test_prediction_logs_on_gcs_need_buckets_get(previews: Previews) -> None:
    graph, spec = baseline(previews, "gcp-dev")
    drop(graph, _member(graph, "mlops-identity-server-prediction-logs-legacybucketreader"))
    found = only(run(graph, spec, GRANTED), GRANTED)
    assert len(found) == 4
    for resource, message in found:
        assert resource.startswith("mlops-services-endpoint-")
        assert "Google service account mlops-gcp-dev-server@acme-ml-dev.iam.gserviceaccount.com" in message
        assert "lacks storage.buckets.get: grant roles/storage.legacyBucketReader on bucket" in message
        assert "to serviceAccount:mlops-gcp-dev-server@acme-ml-dev.iam.gserviceaccount.com" in message


def test_object_roles_alone_do_not_let_batch_output_create_folders(previews: Previews) -> None:
    graph, spec = baseline(previews, "gcp-prod")
    drop(graph, _member(graph, "mlops-identity-trainer-datasets-legacybucketreader"))
    ((resource, message),) = only(run(graph, spec, GRANTED), GRANTED)
    assert resource == "mlops-services-batch-churn-nightly-cronjob"
    assert "gs://mlops-gcp-prod-datasets-acme-ml-prod/scoring/churn-scores/ (spec.json output)" in message
    assert "lacks storage.buckets.get" in message


def test_feast_materialization_overwrites_the_registry(previews: Previews) -> None:
    graph, spec = baseline(previews, "gcp-dev")
    _member(graph, "mlops-identity-feast-datasets").inputs["role"] = "roles/storage.objectViewer"
    found = dict(only(run(graph, spec, GRANTED), GRANTED))
    assert list(found) == ["mlops-services-feast-materialize"], "serving only reads the registry"
    assert "lacks storage.objects.create; storage.objects.delete" in found["mlops-services-feast-materialize"]


def test_without_the_workload_identity_binding_the_pod_cannot_act_as_its_account(previews: Previews) -> None:
    graph, spec = baseline(previews, "gcp-dev")
    drop(graph, named(graph, "mlops-identity-mlflow-wi"))
    ((resource, message),) = only(run(graph, spec, GRANTED), GRANTED)
    assert resource == "mlops-services-mlflow-deployment"
    wanted = "serviceAccount:acme-ml-dev.svc.id.goog[mlops-platform/mlflow]"
    assert f"no roles/iam.workloadIdentityUser binding for {wanted}" in message
    assert (
        f"grant roles/iam.workloadIdentityUser on mlops-gcp-dev-mlflow@acme-ml-dev.iam.gserviceaccount.com to {wanted}"
        in (message)
    )


def test_direct_workload_identity_principals_count_as_the_pod(previews: Previews) -> None:
    graph, spec = baseline(previews, "gcp-dev")
    account = first(
        graph, "kubernetes:core/v1:ServiceAccount", lambda r: r.inputs["metadata"]["name"] == "drift"
    ).inputs["metadata"]
    del account["annotations"]
    principal = (
        "principal://iam.googleapis.com/projects/987654321098/locations/global/workloadIdentityPools/"
        "acme-ml-dev.svc.id.goog/subject/ns/mlops-training/sa/drift"
    )
    drift_members = [m for m in graph.of_type(GCS_MEMBER) if m.name.startswith("mlops-identity-drift-")]
    assert len(drift_members) == 4, "reads of logs and datasets, creation of reports and audit events"
    for member in drift_members:
        member.inputs["member"] = principal
    assert only(run(graph, spec, GRANTED), GRANTED) == []

    _member(graph, "mlops-identity-drift-prediction-logs").inputs["member"] = principal.replace("/sa/drift", "/sa/x")
    found = only(run(graph, spec, GRANTED), GRANTED)
    assert {r for r, _ in found} == {"mlops-services-drift-churn-cronjob", "mlops-services-drift-churn-gpu-cronjob"}
    lacks = "the Workload Identity principal of ServiceAccount mlops-training/drift lacks storage.objects.list"
    assert all(lacks in message for _, message in found)


# --- the IAM evaluator -----------------------------------------------------------------------------------------


def _doc(*statements: dict[str, Any]) -> list[Document]:
    return [Document("test policy", {"Version": "2012-10-17", "Statement": list(statements)})]


def test_iam_wildcards_case_and_not_elements() -> None:
    assert glob_match("s3:Get*", "s3:getobject", ignore_case=True)
    assert not glob_match("arn:aws:s3:::b/A*", "arn:aws:s3:::b/a1")
    assert glob_match("arn:aws:s3:::b/?x", "arn:aws:s3:::b/1x") and not glob_match(
        "arn:aws:s3:::b/?x", "arn:aws:s3:::b/12x"
    )
    req = Request("s3:DeleteObject", "arn:aws:s3:::b/k")
    assert evaluate(req, _doc({"Effect": "Allow", "Action": "S3:delete*", "Resource": "arn:aws:s3:::b/*"})).allowed
    not_action = {"Effect": "Allow", "NotAction": "s3:Delete*", "Resource": "*"}
    assert not evaluate(req, _doc(not_action)).allowed
    not_resource = {"Effect": "Allow", "Action": "s3:*", "NotResource": "arn:aws:s3:::b/*"}
    assert not evaluate(req, _doc(not_resource)).allowed
    allow = {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}
    deny = {"Sid": "NoDeletes", "Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "arn:aws:s3:::b/*"}
    decision = evaluate(req, _doc(allow, deny))
    assert not decision.allowed and decision.reason == "denied by test policy statement 'NoDeletes'"
    boundary = [Document("boundary", {"Statement": [{"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}]})]
    assert evaluate(req, _doc(allow), boundary=boundary).reason == "the permissions boundary does not allow it"


def test_iam_conditions_follow_the_missing_key_rules() -> None:
    listing = {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::b"}
    like = {**listing, "Condition": {"StringLike": {"s3:prefix": "features/*"}}}
    if_exists = {**listing, "Condition": {"StringLikeIfExists": {"s3:prefix": "features/*"}}}
    head = Request("s3:ListBucket", "arn:aws:s3:::b")
    under = Request("s3:ListBucket", "arn:aws:s3:::b", context={"s3:prefix": "features/x/"})
    assert evaluate(under, _doc(like)).allowed and not evaluate(head, _doc(like)).allowed
    assert evaluate(head, _doc(if_exists)).allowed
    not_like = {**listing, "Condition": {"StringNotLike": {"s3:prefix": "secret/*"}}}
    assert evaluate(head, _doc(not_like)).allowed, "a negated operator holds when the key is absent"
    unknown = {**listing, "Condition": {"NumericLessThan": {"s3:max-keys": "10"}}}
    assert not evaluate(head, _doc(unknown)).allowed
    deny_unknown = {
        "Effect": "Deny",
        "Action": "*",
        "Resource": "*",
        "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
    }
    assert evaluate(under, _doc(like, deny_unknown)).allowed, "a key the request does not carry: the Deny is off"
    from_vpc = Request(
        "s3:ListBucket", "arn:aws:s3:::b", context={"s3:prefix": "features/", "aws:SourceIp": "10.1.2.3"}
    )
    decision = evaluate(from_vpc, _doc(like, deny_unknown))
    assert not decision.allowed and "cannot be evaluated" in decision.reason


def test_gcs_object_roles_carry_no_bucket_metadata_permission() -> None:
    for role in ("objectViewer", "objectCreator", "objectUser", "objectAdmin"):
        assert "storage.buckets.get" not in GCS_ROLE_PERMISSIONS[f"roles/storage.{role}"]
    assert "storage.buckets.get" in GCS_ROLE_PERMISSIONS["roles/storage.legacyBucketReader"]


# --- IRSA ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def irsa_dev() -> tuple[ResourceGraph, PlatformSpec]:
    """The dev stack with workload roles bound by IRSA instead of Pod Identity."""
    doc = yaml.safe_load((ROOT / "stacks" / "Pulumi.dev.yaml").read_text())
    config = copy.deepcopy(doc["config"])
    config[CONFIG_KEY]["cluster"]["workload_identity"] = "irsa"
    spec = parse_spec(config[CONFIG_KEY])
    graph = run_program(ROOT / "stacks" / "__main__.py", config, stack="dev", mocks=PlatformMocks(region=spec.region))
    return graph, spec


def test_irsa_roles_are_found_from_the_service_account_annotation(irsa_dev: tuple[ResourceGraph, PlatformSpec]) -> None:
    graph, spec = copy.deepcopy(irsa_dev)
    assert only(run(graph, spec, GRANTED), GRANTED) == []

    def other_subject(trust: dict[str, Any]) -> None:
        equals = trust["Statement"][0]["Condition"]["StringEquals"]
        equals.update({k: "system:serviceaccount:mlops-training:other" for k in equals if k.endswith(":sub")})

    edit_json(named(graph, "mlops-identity-trainer"), "assumeRolePolicy", other_subject)
    found = only(run(graph, spec, GRANTED), GRANTED)
    trainer_workloads = {
        r.name
        for r in graph.resources.values()
        if r.type in ("kubernetes:batch/v1:CronJob", "kubernetes:batch/v1:Job")
        and r.props["spec"].get("jobTemplate", r.props)["spec"]["template"]["spec"]["serviceAccountName"] == "trainer"
    }
    assert {"mlops-services-batch-churn-nightly-cronjob", "mlops-services-training-churn-cronjob"} <= trainer_workloads
    assert {r for r, _ in found} == trainer_workloads, "batch output, and the audit log of every training run"
    for _, message in found:
        assert (
            "IAM role mlops-identity-trainer (eks.amazonaws.com/role-arn on ServiceAccount mlops-training/trainer)"
            in message
        )
        assert "cannot be assumed: the cluster's OIDC provider may not sts:AssumeRoleWithWebIdentity" in message
        assert "trust the cluster's OIDC provider for system:serviceaccount:mlops-training:trainer" in message


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("flag:--input", ["read"]),
        ("env:MLOPS_PREDICTION_LOG_URI", []),
        ("flag:-i", None),
        ("file:spec.json:inputs", None),
    ],
    ids=["listed-flag", "unused-variable", "short-flag-fails-closed", "unknown-spec-key-fails-closed"],
)
def test_locations_a_command_is_given_in_an_unlisted_way_need_every_operation(
    where: str, expected: list[str] | None
) -> None:
    from types import SimpleNamespace

    from pulumi_mlops.policies._uses import Use
    from pulumi_mlops.policies.references import WORKLOAD_USES, operations_of

    use = Use(
        template=SimpleNamespace(),
        container="scorer",
        commands=("mlops batch-predict",),
        where=where,
        location=SimpleNamespace(),
    )  # type: ignore[arg-type]
    if expected is None:  # fails closed: everything the command does anywhere, writes included
        expected = sorted(set(WORKLOAD_USES["mlops batch-predict"].values()))
        assert "write" in expected
    assert operations_of(use) == expected

"""Batch scoring CronJobs: one per ``spec.batch_jobs`` entry, hardened pods, spec mounted, GPU placement."""

from __future__ import annotations

import pytest
from pulumi_mlops.components.k8s.manifests import check_manifests
from pulumi_mlops.runtime.config import BatchSpec, ResourceSpec

from pulumi_mlops.spec import BatchJobSpec, BatchRunSpec, BucketPath, BucketsSpec, PlatformSpec

STACKS = ["dev", "prod"]
BUCKET_URIS = {r: f"s3://test-{r}" for r in ("models", "datasets", "prediction-logs")}
"""What the fixture's ``ClusterContext`` gives per bucket role."""


def _pod(cron):
    return cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]


@pytest.mark.parametrize("stack", STACKS)
def test_every_batch_job_is_a_hardened_cron_job_running_batch_predict(built, stack):
    b = built(stack)
    assert b.spec.batch_jobs
    assert check_manifests(b.graph, b.spec.cluster.kubernetes_version) == []
    for job in b.spec.batch_jobs:
        cron = b.one("CronJob", f"batch-{job.name}", "mlops-training")
        assert cron["spec"]["schedule"] == job.schedule and cron["spec"]["concurrencyPolicy"] == "Forbid"
        spec = cron["spec"]["jobTemplate"]["spec"]
        assert spec["backoffLimit"] == job.backoff_limit
        assert spec["activeDeadlineSeconds"] == job.active_deadline_seconds
        pod = _pod(cron)
        assert pod["restartPolicy"] == "Never" and pod["automountServiceAccountToken"] is False
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["serviceAccountName"].endswith("trainer")
        assert "nodeSelector" not in pod and "tolerations" not in pod
        (container,) = pod["containers"]
        assert [*container["command"], *container["args"]] == [
            "mlops",
            "batch-predict",
            "--spec",
            "/etc/mlops/spec.json",
        ]
        sc = container["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert container["resources"]["requests"] == {"cpu": job.resources.cpu, "memory": job.resources.memory}
        assert {"name": "spec", "mountPath": "/etc/mlops", "readOnly": True} in container["volumeMounts"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["MLOPS_HOME"] == "/tmp/mlops" and "MLOPS_TRACKING_URI" in env
        stored = BatchSpec.model_validate_json(b.one("ConfigMap", f"batch-{job.name}-spec")["data"]["spec.json"])
        assert stored == job.batch.resolve(BUCKET_URIS)
        # The stack names the platform's datasets bucket by role; the runtime gets that bucket's URI.
        assert stored.input == "s3://test-datasets/scoring/customers/"
        assert stored.output == "s3://test-datasets/scoring/churn-scores/"
        assert cron["metadata"]["labels"]["pulumi-mlops.io/model"] == job.batch.model.name


def test_gpu_batch_job_is_placed_on_its_pool(built, build):
    base = built("dev").spec
    gpu_job = BatchJobSpec(
        name="churn-gpu-scores",
        gpu_pool="l4",
        resources=ResourceSpec(cpu="2", memory="8Gi", gpus=1),
        batch=BatchRunSpec.model_validate(
            {
                "model": {"name": "churn-mlp"},
                "input": {"bucket": "datasets", "path": "customers/"},
                "output": {"bucket": "datasets", "path": "scores/"},
            }
        ),
    )
    spec = PlatformSpec.model_validate({**base.model_dump(), "batch_jobs": [gpu_job.model_dump()]})
    b = build(spec)
    assert check_manifests(b.graph, spec.cluster.kubernetes_version) == []
    pod = _pod(b.one("CronJob", "batch-churn-gpu-scores"))
    assert pod["nodeSelector"] == {"pulumi-mlops.io/gpu-pool": "l4"}
    assert pod["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"


def test_batch_job_specs_are_checked_against_pools_and_buckets(built):
    base = built("dev").spec.model_dump()
    job = {"name": "x", "batch": {"model": {"name": "churn"}, "input": "/data/in", "output": "s3://out/"}}
    gpu = {**job, "name": "y", "resources": {"gpus": 1}, "batch": {**job["batch"], "input": "s3://in/"}}
    with pytest.raises(ValueError) as info:
        PlatformSpec.model_validate({**base, "batch_jobs": [job, gpu, {**gpu, "gpu_pool": "nope"}]})
    text = str(info.value)
    assert "batch_jobs[0] (x): batch.input '/data/in' is not a s3:// URI" in text
    assert "batch_jobs[1] (y): resources.gpus is 1, so gpu_pool must name a GPU pool" in text
    assert "batch_jobs[2] (y): gpu_pool 'nope' is not defined" in text
    assert "batch_jobs: job names must be unique" in text
    assert "batch_jobs[1] (y): batch.input 's3://in/' names bucket 'in', which is neither a platform bucket nor" in text


def test_plain_uris_must_name_declared_external_buckets(built):
    base = built("dev").spec.model_dump()
    job = {"name": "x", "batch": {"model": {"name": "churn"}, "input": "s3://partner-drop/in/", "output": "s3://out/"}}
    with pytest.raises(ValueError) as info:
        PlatformSpec.model_validate({**base, "batch_jobs": [job]})
    assert "add 'partner-drop' to buckets.external" in str(info.value)
    assert "add 'out' to buckets.external" in str(info.value)
    buckets = {**base["buckets"], "external": ["partner-drop", "out"]}
    spec = PlatformSpec.model_validate({**base, "buckets": buckets, "batch_jobs": [job]})
    assert spec.batch_jobs[0].batch.resolve(BUCKET_URIS).input == "s3://partner-drop/in/"


def test_platform_bucket_paths_and_external_names_are_checked():
    with pytest.raises(ValueError, match="without a leading '/'"):
        BucketPath(bucket="datasets", path="/scoring/")
    with pytest.raises(ValueError, match="bucket"):
        BucketPath.model_validate({"bucket": "scratch", "path": "x/"})
    with pytest.raises(ValueError, match="is not a bucket name"):
        BucketsSpec(external=["s3://partner-drop"])
    assert BucketPath(bucket="models", path="").uri("gs://m") == "gs://m"

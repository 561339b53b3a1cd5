"""Batch scoring CronJobs: one per ``spec.batch_jobs`` entry, hardened pods, spec mounted, GPU placement."""

from __future__ import annotations

import pytest
from pulumi_mlops.components.k8s.batch import JOB_NAME_FIELD, BatchScoringJob, BatchScoringJobArgs, per_index_backoff
from pulumi_mlops.components.k8s.manifests import check_manifests
from pulumi_mlops.runtime.config import BatchSpec, ResourceSpec

from pulumi_mlops.local import GraphPod
from pulumi_mlops.preview import run_program
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
        if job.shards > 1:  # an Indexed Job: one pod per shard, retries counted per shard
            assert spec["completionMode"] == "Indexed"
            assert spec["completions"] == spec["parallelism"] == job.shards
            assert spec["backoffLimitPerIndex"] == job.backoff_limit and "backoffLimit" not in spec
            assert spec["podReplacementPolicy"] == "Failed", "a shard's new pod waits for the old one to be gone"
        else:
            assert spec["backoffLimit"] == job.backoff_limit
            assert "completionMode" not in spec and "parallelism" not in spec
        assert spec["activeDeadlineSeconds"] == job.active_deadline_seconds
        pod = _pod(cron)
        assert pod["restartPolicy"] == "Never" and pod["automountServiceAccountToken"] is False
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["serviceAccountName"].endswith("trainer")
        assert "nodeSelector" not in pod and "tolerations" not in pod
        (container,) = pod["containers"]
        run_id = ["--run-id", "$(JOB_NAME)"] if job.shards > 1 else []
        assert [*container["command"], *container["args"]] == [
            "mlops",
            "batch-predict",
            "--spec",
            "/etc/mlops/spec.json",
            *run_id,
        ]
        sc = container["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert container["resources"]["requests"] == {"cpu": job.resources.cpu, "memory": job.resources.memory}
        assert {"name": "spec", "mountPath": "/etc/mlops", "readOnly": True} in container["volumeMounts"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["MLOPS_HOME"] == "/tmp/mlops" and "MLOPS_TRACKING_URI" in env
        stored = BatchSpec.model_validate_json(b.one("ConfigMap", f"batch-{job.name}-spec")["data"]["spec.json"])
        assert stored == job.resolve(BUCKET_URIS) and stored.shards == job.shards
        # The stack names the platform's datasets bucket by role; the runtime gets that bucket's URI.
        assert stored.input == "s3://test-datasets/scoring/customers/"
        assert stored.output == "s3://test-datasets/scoring/churn-scores/"
        assert cron["metadata"]["labels"]["pulumi-mlops.io/model"] == job.batch.model.name
    assert any(job.shards > 1 for job in b.spec.batch_jobs) == (stack == "prod"), "prod scores nightly in shards"


def test_every_shard_of_a_sharded_job_gets_the_jobs_name_as_run_id(built):
    b = built("prod")
    (job,) = [j for j in b.spec.batch_jobs if j.shards > 1]
    cron = b.one("CronJob", f"batch-{job.name}", "mlops-training")
    pod = GraphPod(cron, b.graph)
    container = pod.container("scorer")
    env = pod.env(container, {JOB_NAME_FIELD: "batch-churn-nightly-29312345"})
    argv = pod.argv(container, env)
    assert argv[argv.index("--run-id") + 1] == "batch-churn-nightly-29312345"
    assert "JOB_COMPLETION_INDEX" not in env, "Kubernetes sets the index of each pod of an Indexed Job itself"


def test_older_clusters_count_shard_retries_per_job():
    assert per_index_backoff("1.29") and per_index_backoff("1.35") and not per_index_backoff("1.28")
    job = BatchJobSpec.model_validate(
        {
            "name": "scores",
            "shards": 3,
            "backoff_limit": 4,
            "batch": {"model": {"name": "churn"}, "input": "s3://test-datasets/in/", "output": "s3://test-datasets/o/"},
        }
    )
    specs = {}
    for version in ("1.28", "1.35"):

        def program(version: str = version) -> None:
            import pulumi
            import pulumi_kubernetes as k8s
            from pulumi_mlops.components.k8s import ClusterContext

            ctx = ClusterContext(
                provider=k8s.Provider("test", kubeconfig="{}"),
                cloud="aws",
                bucket_uris={r: pulumi.Output.from_input(u) for r, u in BUCKET_URIS.items()},
            )
            args = BatchScoringJobArgs(job, ctx, "training", "runtime:1.0", "trainer", kubernetes_version=version)
            BatchScoringJob("scores", args)

        graph = run_program(program, config={})
        (cron,) = [r.props for r in graph.of_type("kubernetes:batch/v1:CronJob")]
        specs[version] = cron["spec"]["jobTemplate"]["spec"]
    assert specs["1.28"]["backoffLimit"] == 4 and "backoffLimitPerIndex" not in specs["1.28"]
    assert "podReplacementPolicy" not in specs["1.28"]
    assert specs["1.35"]["backoffLimitPerIndex"] == 4 and "backoffLimit" not in specs["1.35"]
    assert specs["1.28"]["completions"] == specs["1.35"]["parallelism"] == 3


def test_shards_are_set_on_the_job_not_in_its_batch():
    with pytest.raises(ValueError, match=r"set shards on the batch job \(batch_jobs\[\].shards\)"):
        BatchRunSpec.model_validate(
            {"model": {"name": "churn"}, "input": "s3://a/in/", "output": "s3://a/o/", "shards": 2}
        )
    with pytest.raises(ValueError, match="less than or equal to 256"):
        BatchJobSpec.model_validate(
            {
                "name": "x",
                "shards": 257,
                "batch": {"model": {"name": "churn"}, "input": "s3://a/i/", "output": "s3://a/o/"},
            }
        )


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

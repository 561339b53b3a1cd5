"""Training CronJobs, distributed (Indexed) jobs with rendezvous, drift jobs and the retraining permission."""

from __future__ import annotations

import json

import pytest
from pulumi_mlops.runtime.config import DriftSpec, TrainingSpec

STACKS = ["dev", "prod"]


def _job(cron):
    return cron["spec"]["jobTemplate"]["spec"]


@pytest.mark.parametrize("stack", STACKS)
def test_every_training_job_is_a_cron_job_with_its_limits(built, stack):
    b = built(stack)
    assert b.spec.training
    for job in b.spec.training:
        cron = b.one("CronJob", f"train-{job.name}", "mlops-training")
        assert cron["spec"]["schedule"] == job.schedule
        assert cron["spec"]["concurrencyPolicy"] == "Forbid"
        spec = _job(cron)
        assert spec["backoffLimit"] == job.backoff_limit
        assert spec["activeDeadlineSeconds"] == job.active_deadline_seconds
        assert spec["ttlSecondsAfterFinished"] > 0
        assert spec["template"]["spec"]["restartPolicy"] == "Never"
        assert cron["metadata"]["labels"]["pulumi-mlops.io/model"] == job.training.model.name
        stored = b.one("ConfigMap", f"train-{job.name}-spec")["data"]["spec.json"]
        assert TrainingSpec.model_validate_json(stored) == job.training


@pytest.mark.parametrize("stack", STACKS)
def test_distributed_job_is_indexed_with_a_rendezvous_service(built, stack):
    b = built(stack)
    distributed = [j for j in b.spec.training if j.nodes > 1]
    assert distributed
    for job in distributed:
        spec = _job(b.one("CronJob", f"train-{job.name}"))
        assert spec["completionMode"] == "Indexed"
        assert spec["parallelism"] == spec["completions"] == job.nodes
        pod = spec["template"]["spec"]
        service = b.one("Service", f"train-{job.name}-rdzv", "mlops-training")
        assert service["spec"]["clusterIP"] == "None"
        assert service["spec"]["publishNotReadyAddresses"] is True
        assert pod["subdomain"] == service["metadata"]["name"]
        assert service["spec"]["selector"].items() <= spec["template"]["metadata"]["labels"].items()
        assert service["spec"]["ports"][0]["port"] == 29500
        container = pod["containers"][0]
        argv = [container["command"][0], *container["args"]]
        assert argv[0] == "torchrun"
        flags = dict(zip(argv[1:9:2], argv[2:10:2], strict=True))
        assert flags == {
            "--nnodes": str(job.nodes),
            "--nproc-per-node": str(max(1, job.resources.gpus)),
            "--rdzv-backend": "c10d",
            "--rdzv-endpoint": f"$(JOB_NAME)-0.train-{job.name}-rdzv:29500",
        }
        assert argv[9:] == [
            "--rdzv-id",
            "$(JOB_NAME)",
            "-m",
            "pulumi_mlops.runtime.training",
            "--spec",
            "/etc/mlops/spec.json",
            "--promote",
        ], "rank 0 ends the run in the champion/challenger gate, as the single-node path does"
        job_name = next(e for e in container["env"] if e["name"] == "JOB_NAME")
        assert job_name["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.labels['batch.kubernetes.io/job-name']"
        assert pod["nodeSelector"] == {"pulumi-mlops.io/gpu-pool": job.gpu_pool}
        assert pod["tolerations"][0]["key"] == "nvidia.com/gpu"
        assert container["resources"]["limits"]["nvidia.com/gpu"] == str(job.resources.gpus)
        shm = next(v for v in pod["volumes"] if v.get("emptyDir", {}).get("medium") == "Memory")
        assert {"name": shm["name"], "mountPath": "/dev/shm"} in container["volumeMounts"]


def test_single_node_job_is_a_plain_job(built):
    b = built("dev")
    spec = _job(b.one("CronJob", "train-churn"))
    assert "completionMode" not in spec and "parallelism" not in spec
    container = spec["template"]["spec"]["containers"][0]
    assert [*container["command"], *container["args"]] == [
        "mlops",
        "train",
        "--spec",
        "/etc/mlops/spec.json",
        "--promote",
    ]
    assert not [s for s in b.objects("Service") if s["metadata"]["name"] == "train-churn-rdzv"]


@pytest.mark.parametrize("stack", STACKS)
def test_every_endpoint_has_a_drift_cron_job_that_triggers_retraining(built, stack):
    b = built(stack)
    for ep in b.spec.endpoints:
        cron = b.one("CronJob", f"drift-{ep.name}", "mlops-training")
        assert cron["spec"]["schedule"] == (ep.drift_schedule or b.spec.drift.schedule)
        pod = _job(cron)["template"]["spec"]
        assert pod["serviceAccountName"] == "drift"
        container = pod["containers"][0]
        assert container["command"] == ["/bin/sh", "-c"]
        script = container["args"][0]
        drift = (
            f"mlops drift --model {ep.serving.model} --window s3://test-prediction-logs/{ep.name}/stable "
            f"--spec /etc/mlops/spec.json --out s3://test-prediction-logs/drift-reports/{ep.name} --run-folder"
        )
        assert script.startswith(drift + ";")
        trainers = [j for j in b.spec.training if j.training.model.name == ep.serving.model.name]
        if not trainers:
            assert script == f"exec {drift}", "a model without a training job is only checked"
            continue
        retrain = (
            f"mlops retrain --endpoint {ep.name} --model {ep.serving.model} "
            f"--cronjob train-{trainers[0].name} --spec /etc/mlops/spec.json"
        )
        assert f'if [ "$rc" -eq 3 ]; then exec {retrain}; fi; exit $rc' in script
        role = b.one("Role", "retrain-trigger", "mlops-training")
        allowed = {n for r in role["rules"] for n in r.get("resourceNames", [])}
        assert f"train-{trainers[0].name}" in allowed, "the drift job may read the CronJob it starts"
        stored = b.one("ConfigMap", f"drift-{ep.name}-spec")["data"]["spec.json"]
        assert DriftSpec.model_validate_json(stored) == b.spec.drift


@pytest.mark.parametrize("stack", STACKS)
def test_drift_role_grants_only_job_creation_and_reading_training_cron_jobs(built, stack):
    b = built(stack)
    role = b.one("Role", "retrain-trigger", "mlops-training")
    rules = sorted(
        (tuple(r["apiGroups"]), tuple(r["resources"]), tuple(sorted(r["verbs"])), tuple(r.get("resourceNames", [])))
        for r in role["rules"]
    )
    cron_jobs = tuple(sorted({f"train-{j.name}" for j in b.spec.training}))
    assert rules == [
        (("batch",), ("cronjobs",), ("get",), cron_jobs),
        (("batch",), ("jobs",), ("create", "get"), ()),
    ]
    binding = b.one("RoleBinding", "retrain-trigger", "mlops-training")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "retrain-trigger"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "drift", "namespace": "mlops-training"}]
    assert len(b.objects("Role")) == 1 and not b.objects("ClusterRole") and not b.objects("ClusterRoleBinding")


def test_training_namespace_has_quota_and_limit_range(built):
    b = built("prod")
    quota = b.one("ResourceQuota", "training", "mlops-training")["spec"]["hard"]
    gpus = sum(2 * j.nodes * j.resources.gpus for j in b.spec.training)
    assert quota["requests.nvidia.com/gpu"] == str(min(gpus, b.spec.max_gpus))
    assert {"requests.cpu", "requests.memory", "limits.cpu", "limits.memory"} <= set(quota)
    limits = b.one("LimitRange", "training", "mlops-training")["spec"]["limits"][0]
    assert limits["maxLimitRequestRatio"] == {"cpu": "2", "memory": "1"}


def test_search_workers_share_a_study_on_the_tracking_database(built):
    from sqlalchemy.engine import make_url

    from .conftest import DB_PASSWORD

    b = built("prod")
    (job,) = [j for j in b.spec.training if j.training.search_workers > 1]
    spec = _job(b.one("CronJob", f"train-{job.name}", "mlops-training"))
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == spec["parallelism"] == job.training.search_workers
    (container,) = spec["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert env["MLOPS_SEARCH_STORAGE"]["valueFrom"]["secretKeyRef"] == {
        "name": "search-db",
        "key": "url",
        "optional": False,
    }
    assert env["MLOPS_SEARCH_STUDY"]["valueFrom"]["fieldRef"]["fieldPath"] == (
        "metadata.labels['batch.kubernetes.io/job-name']"
    )
    assert DB_PASSWORD not in json.dumps(spec), "the password stays in the Secret"
    secret = b.one("Secret", "search-db", "mlops-training")
    url = make_url(secret["stringData"]["url"])
    assert (url.drivername, url.username, url.password, url.host, url.port, url.database) == (
        "postgresql+psycopg2",
        "mlflow",
        DB_PASSWORD,
        "db.internal",
        5432,
        "mlflow",
    )
    assert url.query == {"sslmode": "require"}
    # The workers reach the database: the training namespace's egress opens its port.
    egress = b.one("NetworkPolicy", "allow-egress", "mlops-training")["spec"]["egress"]
    assert any({"protocol": "TCP", "port": 5432} in rule.get("ports", []) for rule in egress)
    # Every worker and every batch shard counts in the namespace's quota (two concurrent runs of each training job).
    quota = b.one("ResourceQuota", "training", "mlops-training")["spec"]["hard"]

    def cores(cpu: str) -> float:
        return float(cpu[:-1]) / 1000 if cpu.endswith("m") else float(cpu)

    training = sum(
        2 * (j.nodes if j.nodes > 1 else j.training.search_workers) * cores(j.resources.cpu) for j in b.spec.training
    )
    batch = sum(j.shards * cores(j.resources.cpu) for j in b.spec.batch_jobs)
    drift = len(b.spec.endpoints) * 0.5
    assert cores(quota["requests.cpu"]) == training + batch + drift


def test_one_worker_jobs_have_no_search_storage(built):
    b = built("dev")
    assert all(j.training.search_workers == 1 for j in b.spec.training)
    assert not [s for s in b.objects("Secret") if s["metadata"]["name"] == "search-db"]
    egress = b.one("NetworkPolicy", "allow-egress", "mlops-training")["spec"]["egress"]
    assert not any({"protocol": "TCP", "port": 5432} in rule.get("ports", []) for rule in egress)
    spec = _job(b.one("CronJob", "train-churn"))
    assert "MLOPS_SEARCH_STORAGE" not in {e["name"] for e in spec["template"]["spec"]["containers"][0]["env"]}


def test_search_workers_need_one_node_and_the_platform_database(built, build):
    from pulumi_mlops.spec import PlatformSpec, TrainingJobSpec

    with pytest.raises(ValueError, match=r"search_workers 2 with nodes 2: .* set nodes to 1"):
        TrainingJobSpec.model_validate(
            {"name": "x", "nodes": 2, "training": {"model": {"name": "m"}, "estimator": "mlp", "search_workers": 2,
                                                   "search_trials": 4}}
        )  # fmt: skip
    base = built("prod").spec
    with pytest.raises(ValueError, match=r"search_workers 3, whose pods share their study .*tracking_db"):
        build(PlatformSpec.model_validate(base.model_dump()), managed=False)

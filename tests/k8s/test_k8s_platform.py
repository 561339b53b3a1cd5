"""Namespaces and isolation, MLflow, Feast, monitoring and the exports of PlatformServices."""

from __future__ import annotations

import configparser
import itertools
import json

import pytest
import yaml
from pulumi_mlops.components.k8s import WORKLOAD_ROLES

CONCERNS = ("serving", "training", "platform", "monitoring")


def test_namespaces_carry_standard_labels_and_pod_security(built):
    b = built("dev")
    namespaces = {n["metadata"]["name"]: n["metadata"]["labels"] for n in b.objects("Namespace")}
    assert set(namespaces) == {f"mlops-{c}" for c in CONCERNS}
    for name, labels in namespaces.items():
        assert labels["app.kubernetes.io/part-of"] == "pulumi-mlops"
        assert labels["app.kubernetes.io/managed-by"] == "pulumi"
        assert labels["owner"] == "ml-platform" and labels["environment"] == "dev"
        expected = "privileged" if name == "mlops-monitoring" else "restricted"
        assert labels["pod-security.kubernetes.io/enforce"] == expected


def test_service_accounts_per_role_with_cloud_annotations(built):
    b = built("dev")
    accounts = {s["metadata"]["name"]: s for s in b.objects("ServiceAccount")}
    assert set(accounts) == set(WORKLOAD_ROLES)
    assert accounts["server"]["metadata"]["annotations"] == {
        "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/server"
    }
    assert accounts["server"]["metadata"]["namespace"] == "mlops-serving"
    assert accounts["trainer"]["metadata"]["namespace"] == "mlops-training"
    assert all(a["automountServiceAccountToken"] is False for a in accounts.values())


def test_every_namespace_denies_by_default_and_allows_dns(built):
    b = built("dev")
    policies = b.objects("NetworkPolicy")
    for concern in CONCERNS:
        ns = f"mlops-{concern}"
        by_name = {p["metadata"]["name"]: p["spec"] for p in policies if p["metadata"]["namespace"] == ns}
        deny = by_name["default-deny"]
        assert deny["podSelector"] == {} and sorted(deny["policyTypes"]) == ["Egress", "Ingress"]
        assert "ingress" not in deny and "egress" not in deny
        dns = by_name["allow-dns"]["egress"][0]
        assert {(p["protocol"], p["port"]) for p in dns["ports"]} == {("UDP", 53), ("TCP", 53)}


def test_serving_accepts_only_gateway_and_monitoring_traffic(built):
    b = built("dev")
    policy = b.one("NetworkPolicy", "allow-gateway-and-monitoring", "mlops-serving")["spec"]
    assert policy["podSelector"] == {"matchLabels": {"app.kubernetes.io/component": "serving"}}
    rule = policy["ingress"][0]
    sources = rule["from"]
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "mlops-monitoring"}}} in sources
    assert {"ipBlock": {"cidr": b.spec.network.cidr}} in sources
    assert not any(s.get("ipBlock", {}).get("cidr", "").startswith("169.254.") for s in sources)
    assert rule["ports"] == [{"protocol": "TCP", "port": 8080}]
    egress = b.one("NetworkPolicy", "allow-egress", "mlops-serving")["spec"]["egress"]
    to_platform = egress[0]
    assert to_platform["to"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "mlops-platform"}}}
    ]
    assert {p["port"] for p in to_platform["ports"]} == {5000, 6566}


def test_mlflow_uses_postgres_bucket_artifacts_and_basic_auth(built):
    b = built("prod")
    deployment = b.one("Deployment", "mlflow", "mlops-platform")
    assert deployment["spec"]["replicas"] == b.spec.tracking.replicas
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    args = container["args"]
    value = dict(itertools.pairwise(args))
    assert (
        value["--backend-store-uri"]
        == "postgresql+psycopg2://mlflow:$(MLFLOW_DB_PASSWORD)@db.internal:5432/mlflow?sslmode=require"
    )
    assert value["--artifacts-destination"] == "s3://test-models/mlflow"
    assert "--serve-artifacts" in args and value["--app-name"] == "basic-auth"
    env = {e["name"]: e for e in container["env"]}
    assert env["MLFLOW_DB_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "mlflow-db"
    allowed = env["MLFLOW_SERVER_ALLOWED_HOSTS"]["value"].split(",")
    assert {"mlflow.mlops-platform.svc.cluster.local:5000", "mlflow.mlops-platform.svc.cluster.local"} <= set(allowed)
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    db = b.one("Secret", "mlflow-db")["stringData"]
    assert db == {"password": "p@ss/word:1", "password-urlencoded": "p%40ss%2Fword%3A1"}
    ini = configparser.ConfigParser()  # as mlflow.server.auth.config reads it (with % interpolation)
    ini.read_string(b.one("Secret", "mlflow-auth")["stringData"]["basic_auth.ini"])
    assert ini["mlflow"]["admin_username"] == "admin"
    assert (
        ini["mlflow"]["database_uri"]
        == "postgresql+psycopg2://mlflow:p%40ss%2Fword%3A1@db.internal:5432/mlflow_auth?sslmode=require"
    )
    service = b.one("Service", "mlflow", "mlops-platform")
    assert service["spec"]["ports"][0]["port"] == 5000
    for ns in ("mlops-serving", "mlops-training"):
        assert b.one("Secret", "mlflow-client", ns)["type"] == "kubernetes.io/basic-auth"


def test_feast_server_reads_redis_with_tls_and_token_from_secret(built):
    b = built("dev")
    config = yaml.safe_load(b.one("ConfigMap", "feast-config", "mlops-platform")["data"]["feature_store.yaml"])
    assert config["online_store"] == {
        "type": "redis",
        "connection_string": "redis.internal:6379,ssl=true,password=${REDIS_TOKEN}",
    }
    assert config["registry"]["path"] == "s3://test-datasets/feast/registry.db"
    assert config["offline_store"] == {"type": "file"}
    container = b.one("Deployment", "feast", "mlops-platform")["spec"]["template"]["spec"]["containers"][0]
    assert container["args"][:3] == ["-c", "/etc/feast", "serve"]
    token = next(e for e in container["env"] if e["name"] == "REDIS_TOKEN")
    assert token["valueFrom"]["secretKeyRef"] == {"name": "feast-redis", "key": "token", "optional": False}
    materialize = b.one("CronJob", "feast-materialize", "mlops-platform")
    script = materialize["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"][0]
    assert "feast -c /etc/feast materialize-incremental" in script


def test_without_managed_services_mlflow_runs_on_sqlite_and_feast_is_skipped(unmanaged):
    assert not [d for d in unmanaged.objects("Deployment") if d["metadata"]["name"] == "feast"]
    assert not [s for s in unmanaged.objects("Secret") if s["metadata"]["name"] in ("mlflow-db", "feast-redis")]
    mlflow = unmanaged.one("Deployment", "mlflow")
    args = mlflow["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--backend-store-uri") + 1] == "sqlite:////mlflow/mlflow.db"
    assert mlflow["spec"]["replicas"] == 1 and mlflow["spec"]["strategy"]["type"] == "Recreate"
    assert unmanaged.exports["featureServerUrl"] is None


def test_feature_store_disabled_skips_feast(build, stack_spec):
    spec = stack_spec("dev").model_copy(deep=True)
    spec.feature_store.enabled = False
    b = build(spec)
    assert not [c for c in b.objects("ConfigMap") if c["metadata"]["name"] == "feast-config"]
    assert b.exports["featureServerUrl"] is None


def test_monitoring_helm_releases_are_pinned_and_configured(built):
    b = built("prod")
    releases = {r.props["chart"]: r.props for r in b.graph.of_type("kubernetes:helm.sh/v3:Release")}
    assert set(releases) == {"kube-prometheus-stack", "prometheus-pushgateway"}
    stack = releases["kube-prometheus-stack"]
    assert stack["version"] == b.spec.monitoring.chart_version
    prometheus = stack["values"]["prometheus"]["prometheusSpec"]
    assert prometheus["serviceMonitorSelectorNilUsesHelmValues"] is False
    assert prometheus["retention"] == f"{b.spec.monitoring.retention_days}d"
    storage = prometheus["storageSpec"]["volumeClaimTemplate"]["spec"]["resources"]["requests"]["storage"]
    assert storage == f"{b.spec.monitoring.storage_gb}Gi"
    sidecar = stack["values"]["grafana"]["sidecar"]["dashboards"]
    assert sidecar["enabled"] is True and sidecar["label"] == "grafana_dashboard"
    assert stack["values"]["grafana"]["admin"]["existingSecret"] == "grafana-admin"
    assert releases["prometheus-pushgateway"]["version"]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_alert_rules_cover_every_endpoint_and_the_platform(built, stack):
    b = built(stack)
    rules = {r["metadata"]["name"]: r["spec"]["groups"] for r in b.objects("PrometheusRule")}
    for ep in b.spec.endpoints:
        alerts = {rule["alert"]: rule["expr"] for group in rules[f"{ep.name}-alerts"] for rule in group["rules"]}
        latency = alerts["MlopsServingHighLatencyP99"]
        assert latency.startswith("histogram_quantile(0.99, sum by (le, model, version)")
        assert "mlops_request_duration_seconds_bucket" in latency and ep.name + "-stable" in latency
        assert latency.endswith(f"> {b.spec.monitoring.p99_latency_ms / 1000:g}")
        errors = alerts["MlopsServingErrorRate"]
        assert 'mlops_requests_total{namespace="mlops-serving"' in errors and 'status=~"5.."' in errors
        assert alerts["MlopsDataDrift"] == (
            f'max by (model) (mlops_drift_share{{model="{ep.serving.model}"}}) '
            f"> {b.spec.drift.thresholds.drift_share:g}"
        )
    platform = {rule["alert"]: rule["expr"] for group in rules["platform-alerts"] for rule in group["rules"]}
    assert 'kube_job_status_failed{namespace="mlops-training"}' in platform["MlopsTrainingJobFailed"]
    assert "DCGM_FI_DEV_GPU_UTIL" in platform["MlopsGpuIdle"]
    assert "DCGM_FI_DEV_XID_ERRORS" in platform["MlopsGpuXidError"]
    assert "nvidia_com_gpu" in platform["MlopsGpuPodsPending"]


def test_dashboards_are_labelled_configmaps_with_valid_json(built):
    b = built("dev")
    boards = [c for c in b.objects("ConfigMap") if c["metadata"]["labels"].get("grafana_dashboard") == "1"]
    assert {c["metadata"]["name"] for c in boards} == {
        "mlops-serving-dashboard",
        "mlops-drift-dashboard",
        "mlops-gpu-dashboard",
    }
    for board in boards:
        ((file_name, text),) = board["data"].items()
        doc = json.loads(text)
        assert file_name == f"{doc['uid']}.json"
        assert doc["panels"] and all(p["targets"][0]["expr"] for p in doc["panels"])
        assert len({p["id"] for p in doc["panels"]}) == len(doc["panels"])


def test_alert_receivers_read_urls_from_a_secret(built):
    b = built("prod")
    secret = b.one("Secret", "alert-receivers", "mlops-monitoring")
    assert secret["stringData"] == {r.name: f"https://hooks.example/{r.name}" for r in b.spec.monitoring.receivers}
    config = b.one("AlertmanagerConfig", "pulumi-mlops", "mlops-monitoring")["spec"]
    receivers = {r["name"]: r for r in config["receivers"]}
    assert receivers["ml-oncall"]["pagerdutyConfigs"][0]["routingKey"] == {
        "name": "alert-receivers",
        "key": "ml-oncall",
    }
    assert receivers["ml-team"]["webhookConfigs"][0]["urlSecret"] == {"name": "alert-receivers", "key": "ml-team"}
    routes = {r["receiver"]: r.get("matchers") for r in config["route"]["routes"]}
    assert routes["ml-oncall"] == [{"name": "severity", "value": "critical", "matchType": "="}]
    assert routes["ml-team"] == [{"name": "severity", "value": "warning", "matchType": "="}]
    assert "https://hooks.example" not in json.dumps(config)


def test_missing_receiver_secret_is_an_error(build, stack_spec):
    with pytest.raises(Exception, match=r"secrets lacks \['alertWebhook'\]"):
        build(stack_spec("dev"), secrets={})


def test_exports(built):
    b = built("dev")
    exports = b.exports
    assert exports["mlflowUrl"] == "http://mlflow.mlops-platform.svc.cluster.local:5000"
    assert exports["featureServerUrl"] == "http://feast.mlops-platform.svc.cluster.local:6566"
    assert exports["grafanaUrl"] == "http://grafana.mlops-monitoring.svc.cluster.local"
    assert exports["gatewayName"] == "mlops-serving/mlops-gateway"
    assert exports["endpointPaths"] == {ep.name: f"/{ep.name}" for ep in b.spec.endpoints}
    assert set(exports["endpointUrls"]) == {ep.name for ep in b.spec.endpoints}
    assert {s["metadata"]["name"] for s in b.objects("Service")} >= {"mlflow", "feast", "churn-stable"}

"""Prometheus alert rule groups: per endpoint (p99 latency, 5xx share, drift share) and per platform.

The rules read the runtime's metrics (``mlops_request_duration_seconds`` histogram and
``mlops_requests_total`` counter with labels ``model``, ``version``, ``status``; the drift job's
``mlops_drift_share`` pushed through the Pushgateway), kube-state-metrics and the NVIDIA DCGM exporter.
"""

from __future__ import annotations

from typing import Any

from pulumi_mlops.runtime.config import DriftThresholds

from pulumi_mlops.spec import EndpointSpec, MonitoringSpec

from .serving import tracks

__all__ = ["GPU_PODS_PENDING", "endpoint_rules", "platform_rules"]

GPU_PODS_PENDING = (
    'sum(max by (namespace, pod) (kube_pod_status_phase{phase="Pending"}) '
    "* on (namespace, pod) group_left() "
    'max by (namespace, pod) (kube_pod_container_resource_requests{resource="nvidia_com_gpu"}))'
)
"""Number of pending pods that request GPUs (kube-state-metrics)."""


def _svc_regex(endpoint: EndpointSpec) -> str:
    return "|".join(f"{endpoint.name}-{t.name}" for t in tracks(endpoint))


def endpoint_rules(
    endpoint: EndpointSpec, serving_namespace: str, monitoring: MonitoringSpec, drift: DriftThresholds
) -> list[dict[str, Any]]:
    """Alert rule groups of one endpoint: p99 latency, 5xx share, drift share above threshold."""
    sel = f'namespace="{serving_namespace}", service=~"{_svc_regex(endpoint)}"'
    latency_s = monitoring.p99_latency_ms / 1000
    model = str(endpoint.serving.model)  # the drift job labels its gauges with name@alias
    summary = {"endpoint": endpoint.name}
    return [
        {
            "name": f"mlops-serving-{endpoint.name}",
            "rules": [
                {
                    "alert": "MlopsServingHighLatencyP99",
                    "expr": (
                        "histogram_quantile(0.99, sum by (le, model, version) "
                        f"(rate(mlops_request_duration_seconds_bucket{{{sel}}}[5m]))) > {latency_s:g}"
                    ),
                    "for": "10m",
                    "labels": {"severity": "warning", **summary},
                    "annotations": {
                        "summary": f"{endpoint.name}: p99 latency above {monitoring.p99_latency_ms:g} ms",
                        "description": "Model {{ $labels.model }} version {{ $labels.version }} p99 is {{ $value }}s.",
                    },
                },
                {
                    "alert": "MlopsServingErrorRate",
                    "expr": (
                        f'sum by (model, version) (rate(mlops_requests_total{{{sel}, status=~"5.."}}[5m])) '
                        f"/ sum by (model, version) (rate(mlops_requests_total{{{sel}}}[5m]))"
                        f" > {monitoring.error_rate:g}"
                    ),
                    "for": "5m",
                    "labels": {"severity": "critical", **summary},
                    "annotations": {
                        "summary": f"{endpoint.name}: 5xx share above {monitoring.error_rate:g}",
                        "description": "Model {{ $labels.model }} v{{ $labels.version }}: 5xx share {{ $value }}.",
                    },
                },
            ],
        },
        {
            "name": f"mlops-drift-{endpoint.name}",
            "rules": [
                {
                    "alert": "MlopsDataDrift",
                    "expr": f'max by (model) (mlops_drift_share{{model="{model}"}}) > {drift.drift_share:g}',
                    "labels": {"severity": "warning", **summary},
                    "annotations": {
                        "summary": f"{endpoint.name}: drifted feature share above {drift.drift_share:g}",
                        "description": "{{ $value }} of the features of {{ $labels.model }} drifted.",
                    },
                }
            ],
        },
    ]


def platform_rules(training_namespace: str) -> list[dict[str, Any]]:
    """Alert rule groups of the platform: failed training jobs, idle GPUs, XID errors, pending GPU pods."""
    return [
        {
            "name": "mlops-training",
            "rules": [
                {
                    "alert": "MlopsTrainingJobFailed",
                    "expr": f'kube_job_status_failed{{namespace="{training_namespace}"}} > 0',
                    "labels": {"severity": "warning"},
                    "annotations": {"summary": "Training job {{ $labels.job_name }} failed."},
                }
            ],
        },
        {
            "name": "mlops-gpu",
            "rules": [
                {
                    "alert": "MlopsGpuIdle",
                    "expr": "avg by (Hostname, gpu) (avg_over_time(DCGM_FI_DEV_GPU_UTIL[30m])) < 5",
                    "for": "1h",
                    "labels": {"severity": "warning"},
                    "annotations": {"summary": "GPU {{ $labels.gpu }} on {{ $labels.Hostname }} idle for an hour."},
                },
                {
                    "alert": "MlopsGpuXidError",
                    "expr": "max by (Hostname, gpu) (DCGM_FI_DEV_XID_ERRORS) > 0",
                    "labels": {"severity": "critical"},
                    "annotations": {
                        "summary": "GPU {{ $labels.gpu }} on {{ $labels.Hostname }} reported XID {{ $value }}."
                    },
                },
                {
                    "alert": "MlopsGpuPodsPending",
                    "expr": f"{GPU_PODS_PENDING} > 0",
                    "for": "15m",
                    "labels": {"severity": "warning"},
                    "annotations": {
                        "summary": "Pods requesting GPUs pending for 15 minutes (pool at max or no quota)."
                    },
                },
            ],
        },
    ]

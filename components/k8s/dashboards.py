"""Grafana dashboards of the platform (serving, drift, GPUs) as dashboard JSON models."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .alert_rules import GPU_PODS_PENDING

__all__ = ["dashboards"]


def _panel(pid: int, title: str, exprs: Sequence[tuple[str, str]], unit: str, x: int, y: int) -> dict[str, Any]:
    return {
        "id": pid,
        "type": "timeseries",
        "title": title,
        "datasource": {"type": "prometheus", "uid": "prometheus"},
        "gridPos": {"h": 8, "w": 12, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}},
        "targets": [
            {"refId": chr(ord("A") + i), "expr": expr, "legendFormat": legend} for i, (expr, legend) in enumerate(exprs)
        ],
    }


def _dashboard(uid: str, title: str, panels: Sequence[tuple[str, Sequence[tuple[str, str]], str]]) -> dict[str, Any]:
    return {
        "uid": uid,
        "title": title,
        "tags": ["pulumi-mlops"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "editable": False,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": []},
        "annotations": {"list": []},
        "panels": [
            _panel(i + 1, t, exprs, unit, (i % 2) * 12, (i // 2) * 8) for i, (t, exprs, unit) in enumerate(panels)
        ],
    }


def dashboards(serving_namespace: str) -> dict[str, dict[str, Any]]:
    """Grafana dashboards by file name: serving, drift and GPU."""
    ns = f'namespace="{serving_namespace}"'
    return {
        "mlops-serving.json": _dashboard(
            "mlops-serving",
            "MLOps / Serving",
            [
                (
                    "Requests per second",
                    [(f"sum by (model, version) (rate(mlops_requests_total{{{ns}}}[5m]))", "{{model}} v{{version}}")],
                    "reqps",
                ),
                (
                    "p99 latency",
                    [
                        (
                            "histogram_quantile(0.99, sum by (le, model, version) "
                            f"(rate(mlops_request_duration_seconds_bucket{{{ns}}}[5m])))",
                            "{{model}} v{{version}}",
                        )
                    ],
                    "s",
                ),
                (
                    "5xx share",
                    [
                        (
                            f'sum by (model, version) (rate(mlops_requests_total{{{ns}, status=~"5.."}}[5m])) '
                            f"/ sum by (model, version) (rate(mlops_requests_total{{{ns}}}[5m]))",
                            "{{model}} v{{version}}",
                        )
                    ],
                    "percentunit",
                ),
                (
                    "Ready pods",
                    [(f"sum by (deployment) (kube_deployment_status_replicas_ready{{{ns}}})", "{{deployment}}")],
                    "short",
                ),
            ],
        ),
        "mlops-drift.json": _dashboard(
            "mlops-drift",
            "MLOps / Drift",
            [
                ("Drifted feature share", [("max by (model) (mlops_drift_share)", "{{model}}")], "percentunit"),
                (
                    "Drift job failures",
                    [('sum by (job_name) (kube_job_status_failed{job_name=~"drift-.*"})', "{{job_name}}")],
                    "short",
                ),
            ],
        ),
        "mlops-gpu.json": _dashboard(
            "mlops-gpu",
            "MLOps / GPUs",
            [
                (
                    "GPU utilization",
                    [("avg by (Hostname, gpu) (DCGM_FI_DEV_GPU_UTIL)", "{{Hostname}} gpu{{gpu}}")],
                    "percent",
                ),
                (
                    "GPU memory used",
                    [("sum by (Hostname, gpu) (DCGM_FI_DEV_FB_USED)", "{{Hostname}} gpu{{gpu}}")],
                    "decmbytes",
                ),
                (
                    "XID errors",
                    [("max by (Hostname, gpu) (DCGM_FI_DEV_XID_ERRORS)", "{{Hostname}} gpu{{gpu}}")],
                    "short",
                ),
                (
                    "Pending GPU pods",
                    [(GPU_PODS_PENDING, "pending")],
                    "short",
                ),
            ],
        ),
    }

"""Prometheus metrics of a drift report: pushed to a Pushgateway, or written as a text file.

Gauges (all labelled with ``model``):

* ``mlops_drift_share`` — drifted features / features.
* ``mlops_dataset_drift`` — 1 when the dataset drifted, else 0.
* ``mlops_feature_drift_score{feature,test}`` — the statistic of every test run on every feature;
  the p-values of ks and chi2 are exported as tests ``ks_pvalue`` and ``chi2_pvalue``. The prediction
  is exported as the feature ``prediction``.
* ``mlops_drift_window_rows`` — rows in the window.
"""

from __future__ import annotations

from pathlib import Path

from .report import DriftReport

__all__ = ["JOB_NAME", "METRICS_FILENAME", "export_metrics"]

JOB_NAME = "mlops-drift"
METRICS_FILENAME = "drift.prom"


def export_metrics(report: DriftReport, *, pushgateway_url: str = "", out_dir: str | Path | None = None) -> str:
    """Push the report's gauges to ``pushgateway_url`` or write them to ``<out_dir>/drift.prom``.

    Returns where they went.
    """
    from prometheus_client import CollectorRegistry, Gauge, push_to_gateway, write_to_textfile

    registry = CollectorRegistry()
    model = report.model
    Gauge("mlops_drift_share", "Share of drifted features", ["model"], registry=registry).labels(model).set(
        report.drift_share
    )
    Gauge("mlops_dataset_drift", "1 when the dataset drifted", ["model"], registry=registry).labels(model).set(
        1.0 if report.dataset_drift else 0.0
    )
    Gauge("mlops_drift_window_rows", "Rows in the drift window", ["model"], registry=registry).labels(model).set(
        report.window.rows
    )
    score = Gauge(
        "mlops_feature_drift_score",
        "Drift statistic per feature and test",
        ["model", "feature", "test"],
        registry=registry,
    )
    features = [*report.features, *([report.prediction] if report.prediction else [])]
    for feature in features:
        for result in feature.tests:
            score.labels(model, feature.name, result.test).set(result.statistic)
            if result.p_value is not None:
                score.labels(model, feature.name, f"{result.test}_pvalue").set(result.p_value)
    if pushgateway_url:
        push_to_gateway(pushgateway_url, job=JOB_NAME, registry=registry, grouping_key={"model": model})
        return pushgateway_url
    if out_dir is None:
        raise ValueError("export_metrics needs a pushgateway_url or an out_dir")
    target = Path(out_dir) / METRICS_FILENAME
    target.parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(target), registry)
    return str(target)

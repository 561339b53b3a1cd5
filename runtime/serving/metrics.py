"""Prometheus metrics of one server, in their own registry (served at ``/metrics``)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector

__all__ = ["PREDICTION_BUCKETS", "PredictionHistogram", "ServingMetrics"]

PREDICTION_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
"""Upper bounds of the prediction distribution histogram (probabilities)."""
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)


class PredictionHistogram(Collector):
    """Histogram of predicted values per model version, updated once per micro-batch with numpy."""

    def __init__(self, name: str, documentation: str, bounds: tuple[float, ...] = PREDICTION_BUCKETS) -> None:
        self.name = name
        self.documentation = documentation
        self.bounds = np.asarray(bounds, dtype=np.float64)
        self._lock = threading.Lock()
        self._series: dict[tuple[str, str], tuple[np.ndarray, float]] = {}

    def observe(self, model: str, version: str, values: np.ndarray) -> None:
        flat = np.ravel(values)
        finite = flat[np.isfinite(flat)]
        counts = np.bincount(np.searchsorted(self.bounds, finite, side="left"), minlength=len(self.bounds) + 1)
        with self._lock:
            previous, total = self._series.get((model, version), (np.zeros(len(self.bounds) + 1, np.int64), 0.0))
            self._series[(model, version)] = (previous + counts, total + float(finite.sum()))

    def collect(self) -> Iterator[HistogramMetricFamily]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=["model", "version"])
        with self._lock:
            series = dict(self._series)
        for (model, version), (counts, total) in series.items():
            cumulative = np.cumsum(counts)
            buckets = [(repr(float(b)), float(c)) for b, c in zip(self.bounds, cumulative[:-1], strict=True)]
            buckets.append(("+Inf", float(cumulative[-1])))
            family.add_metric([model, version], buckets, total)
        yield family


class ServingMetrics:
    """The server's metrics; label children are cached so the request path does one dict lookup."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.requests = Counter(
            "mlops_requests", "Inference requests answered", ["model", "version", "status"], registry=self.registry
        )
        self.duration = Histogram(
            "mlops_request_duration_seconds",
            "Inference request latency inside the server",
            ["model", "version", "status"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "mlops_batch_size",
            "Rows per micro-batch predicted together",
            ["model"],
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        self.model_loads = Counter(
            "mlops_model_load", "Model version loads by outcome", ["outcome"], registry=self.registry
        )
        self.model_version = Gauge(
            "mlops_model_version", "Model version being served", ["model"], registry=self.registry
        )
        self.log_rows = Counter(
            "mlops_prediction_log_rows",
            "Prediction-log rows by outcome (written, dropped, failed)",
            ["outcome"],
            registry=self.registry,
        )
        self.predictions = PredictionHistogram("mlops_prediction", "Distribution of predicted probabilities")
        self.registry.register(self.predictions)
        for outcome in ("success", "failure"):
            self.model_loads.labels(outcome)
        for outcome in ("written", "dropped", "failed"):
            self.log_rows.labels(outcome)
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def observe_request(self, model: str, version: str, status: int, seconds: float) -> None:
        key = (model, version, status)
        children = self._children.get(key)
        if children is None:
            label = str(status)
            children = (self.requests.labels(model, version, label), self.duration.labels(model, version, label))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

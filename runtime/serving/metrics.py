"""Prometheus metrics of one server, in their own registry (served at ``/metrics``).

The per-request series (``mlops_requests_total`` and ``mlops_request_duration_seconds``) and the prediction
histogram are collectors of their own: a request costs one dict lookup and a ``bisect`` into plain lists, and a
micro-batch's predictions are only queued, binned with numpy when scraped (or once enough batches wait).
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Iterator

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

__all__ = ["PREDICTION_BUCKETS", "PredictionHistogram", "RequestMetrics", "ServingMetrics"]

PREDICTION_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
"""Upper bounds of the prediction distribution histogram (probabilities)."""
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)


class PredictionHistogram(Collector):
    """Histogram of predicted values per model version: batches are queued as they come and binned together with
    numpy when the histogram is read, or once ``fold_after`` batches wait."""

    def __init__(
        self,
        name: str,
        documentation: str,
        bounds: tuple[float, ...] = PREDICTION_BUCKETS,
        *,
        fold_after: int = 256,
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.bounds = np.asarray(bounds, dtype=np.float64)
        self.fold_after = fold_after
        self._lock = threading.Lock()
        self._series: dict[tuple[str, str], tuple[np.ndarray, float]] = {}
        self._pending: list[tuple[str, str, np.ndarray]] = []

    def observe(self, model: str, version: str, values: np.ndarray) -> None:
        self._pending.append((model, version, values))
        if len(self._pending) >= self.fold_after:
            self._fold()

    def _fold(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
            groups: dict[tuple[str, str], list[np.ndarray]] = {}
            for model, version, values in pending:
                groups.setdefault((model, version), []).append(np.ravel(values))
            for key, parts in groups.items():
                flat = np.concatenate(parts)
                finite = flat[np.isfinite(flat)]
                cut = np.searchsorted(self.bounds, finite, side="left")
                counts = np.bincount(cut, minlength=len(self.bounds) + 1)
                previous, total = self._series.get(key, (np.zeros(len(self.bounds) + 1, np.int64), 0.0))
                self._series[key] = (previous + counts, total + float(finite.sum()))

    def collect(self) -> Iterator[HistogramMetricFamily]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=["model", "version"])
        self._fold()
        with self._lock:
            series = dict(self._series)
        for (model, version), (counts, total) in series.items():
            cumulative = np.cumsum(counts)
            buckets = [(repr(float(b)), float(c)) for b, c in zip(self.bounds, cumulative[:-1], strict=True)]
            buckets.append(("+Inf", float(cumulative[-1])))
            family.add_metric([model, version], buckets, total)
        yield family


class RequestMetrics(Collector):
    """``mlops_requests_total`` and ``mlops_request_duration_seconds`` by model, version and status.

    Each series is one list: a count per latency bucket (the last for beyond every bound), then the sum of the
    latencies. Requests are observed on the event loop; a scrape copies each list before reading it.
    """

    def __init__(self, bounds: tuple[float, ...] = _LATENCY_BUCKETS) -> None:
        self.bounds = list(bounds)
        self._series: dict[tuple[str, str, int], list[float]] = {}

    def observe(self, model: str, version: str, status: int, seconds: float) -> None:
        series = self._series.get((model, version, status))
        if series is None:
            series = self._series[(model, version, status)] = [0.0] * (len(self.bounds) + 2)
        series[bisect_left(self.bounds, seconds)] += 1
        series[-1] += seconds

    def collect(self) -> Iterator[CounterMetricFamily | HistogramMetricFamily]:
        labels = ["model", "version", "status"]
        requests = CounterMetricFamily("mlops_requests", "Inference requests answered", labels=labels)
        duration = HistogramMetricFamily(
            "mlops_request_duration_seconds", "Inference request latency inside the server", labels=labels
        )
        for (model, version, status), live in list(self._series.items()):
            series = list(live)
            cumulative = np.cumsum(series[:-1])
            values = [model, version, str(status)]
            requests.add_metric(values, float(cumulative[-1]))
            buckets = [(repr(float(b)), float(c)) for b, c in zip(self.bounds, cumulative[:-1], strict=True)]
            buckets.append(("+Inf", float(cumulative[-1])))
            duration.add_metric(values, buckets, series[-1])
        yield requests
        yield duration


class ServingMetrics:
    """The server's metrics."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.requests = RequestMetrics()
        """Answered requests and their latency."""
        self.registry.register(self.requests)
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
        self.model_cpu = Counter(
            "mlops_model_cpu_seconds",
            "CPU seconds spent in model calls (the rest of the process's CPU time is the server's own)",
            ["model"],
            registry=self.registry,
        )
        self.predictions = PredictionHistogram("mlops_prediction", "Distribution of predicted probabilities")
        self.registry.register(self.predictions)
        for outcome in ("success", "failure"):
            self.model_loads.labels(outcome)
        for outcome in ("written", "dropped", "failed"):
            self.log_rows.labels(outcome)
        self.observe_request = self.requests.observe
        """Record one answered request: ``(model, version, status, seconds)``."""

"""One drift check end to end: reference, window of prediction logs, tests, reports and metrics.

``mlops drift``, ``mlops retrain`` and the demo all run this function.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pulumi_mlops.runtime.config import DriftSpec, ModelRef, RuntimeSettings

from .detector import detect_drift
from .html import HTML_FILENAME, write_html
from .metrics import export_metrics
from .reference import load_reference
from .report import REPORT_FILENAME, DriftReport, WindowInfo, write_json
from .window import read_labels, read_window

__all__ = ["DriftCheck", "run_drift_check"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DriftCheck:
    """A finished check: the report and where it went."""

    report: DriftReport
    json_path: Path
    html_path: Path
    metrics: str
    """Where the metrics went (Pushgateway URL or the metrics file)."""


def run_drift_check(
    model: ModelRef,
    window: str,
    spec: DriftSpec,
    settings: RuntimeSettings,
    out: Path,
    *,
    reference: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    labels: str | None = None,
) -> DriftCheck:
    """Test ``window`` against the reference profile of ``model`` (or ``reference``) and write the reports.

    The window defaults to the ``spec.window_hours`` ending now. Raises ``ProfileError`` /
    ``WindowError`` (user errors) when the reference or the logs cannot be read.
    """
    end = until or datetime.now(UTC)
    start = since or end - timedelta(hours=spec.window_hours)
    if start >= end:
        raise ValueError(f"window start {start.isoformat()} is not before its end {end.isoformat()}")
    profile, source = load_reference(reference or f"models:/{model}", settings)
    wanted = [*profile.features, "prediction", "request_id"]
    logs = read_window(window, since=start, until=end, columns=wanted, endpoint_url=settings.s3_endpoint_url)
    label_frame = read_labels(labels, endpoint_url=settings.s3_endpoint_url) if labels else None
    report = detect_drift(
        profile,
        logs.frame,
        spec,
        model=str(model),
        reference=source,
        window=WindowInfo(source=window, since=start, until=end, files=logs.files),
        labels=label_frame,
        log_columns=logs.columns or None,
    )
    json_path = write_json(report, out / REPORT_FILENAME)
    html_path = write_html(report, out / HTML_FILENAME)
    try:
        where = export_metrics(report, pushgateway_url=settings.pushgateway_url, out_dir=out)
    except OSError as exc:
        log.warning("cannot push metrics to %s (%s); writing them under %s", settings.pushgateway_url, exc, out)
        where = export_metrics(report, out_dir=out)
    return DriftCheck(report=report, json_path=json_path, html_path=html_path, metrics=where)

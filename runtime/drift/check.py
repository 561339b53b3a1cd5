"""One drift check end to end: reference, window of prediction logs, tests, reports and metrics.

``mlops drift``, ``mlops retrain`` and the demo all run this function. The reports go to a local folder
or to a bucket prefix (on the platform: ``<prediction-logs bucket>/drift-reports/<endpoint>``), where
they outlive the job's pod; with ``run_folder`` each run writes below its own ``<window end>/`` folder,
so the history is kept and nothing is overwritten.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pulumi_mlops.runtime.config import DriftSpec, ModelRef, RuntimeSettings
from pulumi_mlops.runtime.storage import is_bucket_uri, join, put_object

from .detector import detect_drift
from .html import HTML_FILENAME, write_html
from .metrics import export_metrics
from .reference import load_reference
from .report import REPORT_FILENAME, DriftReport, WindowInfo, write_json
from .window import read_labels, read_window

__all__ = ["DriftCheck", "run_drift_check", "run_folder_name"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DriftCheck:
    """A finished check: the report and where it went."""

    report: DriftReport
    json_path: str
    """Where the JSON report went (a path or a bucket URI)."""
    html_path: str
    """Where the HTML report went."""
    metrics: str
    """Where the metrics went (Pushgateway URL or the metrics file)."""


def run_folder_name(until: datetime) -> str:
    """Folder of one run's reports: the window end in UTC, ``2026-12-01T06-00-00Z`` (sorts by time)."""
    return until.astimezone(UTC).strftime("%Y-%m-%dT%H-%M-%SZ")


def run_drift_check(
    model: ModelRef,
    window: str,
    spec: DriftSpec,
    settings: RuntimeSettings,
    out: Path | str,
    *,
    reference: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    labels: str | None = None,
    run_folder: bool = False,
) -> DriftCheck:
    """Test ``window`` against the reference profile of ``model`` (or ``reference``) and write the reports.

    ``out`` is a folder or an ``s3://``/``gs://`` prefix; with ``run_folder`` the reports go below
    ``<out>/<window end>/``. The window defaults to the ``spec.window_hours`` ending now. Raises
    ``ProfileError`` / ``WindowError`` (user errors) when the reference or the logs cannot be read.
    """
    end = until or datetime.now(UTC)
    start = since or end - timedelta(hours=spec.window_hours)
    if start >= end:
        raise ValueError(f"window start {start.isoformat()} is not before its end {end.isoformat()}")
    profile, source = load_reference(reference or f"models:/{model}", settings)
    wanted = [*profile.features, "prediction", "request_id", "row"]
    logs = read_window(
        window, since=start, until=end, columns=wanted, endpoint_url=settings.s3_endpoint_url, model=model.name
    )
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
    target = join(out, run_folder_name(end)) if run_folder else str(out)
    if not is_bucket_uri(target):
        return _write(report, Path(target), settings)
    with tempfile.TemporaryDirectory(prefix="mlops-drift-") as tmp:
        staged = _write(report, Path(tmp), settings)
        uploaded = {}
        for local in sorted(Path(tmp).iterdir()):
            uploaded[str(local)] = put_object(join(target, local.name), local.read_bytes(), settings)
    return DriftCheck(
        report=report,
        json_path=uploaded[staged.json_path],
        html_path=uploaded[staged.html_path],
        metrics=uploaded.get(staged.metrics, staged.metrics),
    )


def _write(report: DriftReport, out: Path, settings: RuntimeSettings) -> DriftCheck:
    """Write the reports under the folder ``out`` and export the metrics."""
    json_path = write_json(report, out / REPORT_FILENAME)
    html_path = write_html(report, out / HTML_FILENAME)
    try:
        where = export_metrics(report, pushgateway_url=settings.pushgateway_url, out_dir=out)
    except OSError as exc:
        log.warning("cannot push metrics to %s (%s); writing them under %s", settings.pushgateway_url, exc, out)
        where = export_metrics(report, out_dir=out)
    return DriftCheck(report=report, json_path=str(json_path), html_path=str(html_path), metrics=where)

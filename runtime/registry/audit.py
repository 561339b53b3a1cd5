"""Append-only audit log of registry decisions (who, what, when, why, versions).

The log is a JSON-lines file on a laptop. On the platform ``MLOPS_AUDIT_LOG`` is a bucket prefix
(``s3://<models bucket>/audit``): a bucket cannot append, so each event is one new object,
``<prefix>/<model>/<UTC time>-<random>.json``, and the log outlives the pods that wrote it.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pulumi_mlops.runtime.config import RuntimeSettings, StrictModel
from pulumi_mlops.runtime.storage import is_bucket_uri, join, list_objects, put_object, read_object
from pydantic import Field

__all__ = ["AuditEvent", "append_audit", "read_audit"]


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return os.environ.get("USER", "unknown")


class AuditEvent(StrictModel):
    """One registry decision."""

    action: str
    """register, promote, refuse, rollback."""
    model: str
    """Registered model name."""
    reason: str
    """Why the decision was taken (metrics and margin, or the user's note)."""
    versions: dict[str, str | None] = Field(default_factory=dict)
    """Versions involved, e.g. ``{"challenger": "3", "champion_before": "2", "champion_after": "3"}``."""
    details: dict[str, Any] = Field(default_factory=dict)
    """Metrics and other context."""
    user: str = Field(default_factory=_user)
    """Who: the operating-system user."""
    host: str = Field(default_factory=socket.gethostname)
    """Where: the host name (the pod name on the platform)."""
    at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    """When: UTC, ISO 8601."""


def append_audit(settings: RuntimeSettings, event: AuditEvent) -> str:
    """Append ``event`` to ``settings.resolved_audit_log()``: one JSON line, or one new object in a bucket.

    Returns where the event went.
    """
    location = settings.resolved_audit_log()
    line = json.dumps(event.model_dump(), sort_keys=True, default=str)
    if is_bucket_uri(location):
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        key = join(location, event.model, f"{stamp}-{uuid.uuid4().hex[:12]}.json")
        return put_object(key, (line + "\n").encode(), settings)
    path = Path(location)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(line + "\n")
    return str(path)


def read_audit(settings: RuntimeSettings, model: str | None = None) -> list[AuditEvent]:
    """Events of the audit log, oldest first, optionally for one model."""
    location = settings.resolved_audit_log()
    if is_bucket_uri(location):
        keys = list_objects(join(location, model) if model else location, settings, suffix=".json")
        lines = [line for key in keys for line in read_object(key, settings).decode().splitlines()]
    else:
        path = Path(location)
        lines = path.read_text().splitlines() if path.exists() else []
    events = [AuditEvent.model_validate_json(line) for line in lines if line.strip()]
    events.sort(key=lambda e: e.at)
    return [e for e in events if model is None or e.model == model]

"""Append-only JSON-lines audit log of registry decisions (who, what, when, why, versions)."""

from __future__ import annotations

import getpass
import json
import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pulumi_mlops.runtime.config import RuntimeSettings, StrictModel
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


def append_audit(settings: RuntimeSettings, event: AuditEvent) -> Path:
    """Append ``event`` as one JSON line to ``settings.resolved_audit_log()``."""
    path = settings.resolved_audit_log()
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(event.model_dump(), sort_keys=True, default=str)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(line + "\n")
    return path


def read_audit(settings: RuntimeSettings, model: str | None = None) -> list[AuditEvent]:
    """Events of the audit log, oldest first, optionally for one model."""
    path = settings.resolved_audit_log()
    if not path.exists():
        return []
    events = [AuditEvent.model_validate_json(line) for line in path.read_text().splitlines() if line.strip()]
    return [e for e in events if model is None or e.model == model]

"""Anti-flapping guard for automatic retraining: a cooldown and a daily cap per model.

The history of past retraining times lives either in a small JSON file (written atomically, so a
crash mid-write never loses it) or on the registered model itself, as a tag, so that every drift
job on the platform sees the same history.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

__all__ = ["HISTORY_TAG", "History", "RegistryHistory", "RetrainGuard", "RetrainHistory"]

HISTORY_TAG = "mlops.retrain_history"
"""Registered-model tag holding the JSON list of automatic retraining times."""
KEEP = timedelta(days=7)


class History(Protocol):
    """Where past retraining times are kept."""

    def load(self) -> dict[str, list[datetime]]: ...

    def record(self, model: str, at: datetime) -> None: ...


class RetrainHistory:
    """Past automatic retrainings, by model name, persisted as JSON."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, list[datetime]]:
        if not self.path.is_file():
            return {}
        raw = json.loads(self.path.read_text() or "{}")
        return {model: [datetime.fromisoformat(t) for t in times] for model, times in raw.items()}

    def record(self, model: str, at: datetime) -> None:
        history = self.load()
        cutoff = at - KEEP
        times = [t for t in history.get(model, []) if t >= cutoff] + [at]
        history[model] = times
        payload = {m: [t.isoformat() for t in ts] for m, ts in sorted(history.items())}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".retrain-history-")
        with os.fdopen(fd, "w") as fh:
            json.dump(payload, fh, indent=2)
        os.replace(tmp, self.path)


class RegistryHistory:
    """Past automatic retrainings kept on the registered model (tag ``mlops.retrain_history``)."""

    def __init__(self, client: Any, models: list[str]) -> None:
        self.client = client
        self.models = models

    def load(self) -> dict[str, list[datetime]]:
        history: dict[str, list[datetime]] = {}
        for model in self.models:
            tags = self.client.get_registered_model(model).tags or {}
            raw = json.loads(tags.get(HISTORY_TAG) or "[]")
            history[model] = [datetime.fromisoformat(t) for t in raw]
        return history

    def record(self, model: str, at: datetime) -> None:
        times = [t for t in self.load().get(model, []) if t >= at - KEEP] + [at]
        self.client.set_registered_model_tag(model, HISTORY_TAG, json.dumps([t.isoformat() for t in times]))


class RetrainGuard:
    """Says whether a model may be retrained now, and why not."""

    def __init__(self, history: History, cooldown_hours: float, max_per_day: int) -> None:
        self.history = history
        self.cooldown = timedelta(hours=cooldown_hours)
        self.max_per_day = max_per_day

    def blocked(self, model: str, now: datetime | None = None) -> str | None:
        """A reason the retraining must wait, or ``None`` when it may go ahead."""
        now = now or datetime.now(UTC)
        times = sorted(self.history.load().get(model, []))
        if self.max_per_day == 0:
            return "automatic retraining is disabled (max_retrains_per_day is 0)"
        last_day = [t for t in times if t > now - timedelta(days=1)]
        if len(last_day) >= self.max_per_day:
            return f"daily cap reached: {len(last_day)} retrainings in the last 24 h (max_retrains_per_day)"
        if times and now - times[-1] < self.cooldown:
            wait = self.cooldown - (now - times[-1])
            return f"cooldown: last retraining {times[-1].isoformat()}, next allowed in {wait} (retrain_cooldown_hours)"
        return None

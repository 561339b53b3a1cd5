"""Anti-flapping guard for automatic retraining: a cooldown and a daily cap per model.

The history is a small JSON file of past retraining times per model, written atomically so a
crash mid-write never loses it.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

__all__ = ["RetrainGuard", "RetrainHistory"]


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
        cutoff = at - timedelta(days=7)
        times = [t for t in history.get(model, []) if t >= cutoff] + [at]
        history[model] = times
        payload = {m: [t.isoformat() for t in ts] for m, ts in sorted(history.items())}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".retrain-history-")
        with os.fdopen(fd, "w") as fh:
            json.dump(payload, fh, indent=2)
        os.replace(tmp, self.path)


class RetrainGuard:
    """Says whether a model may be retrained now, and why not."""

    def __init__(self, history: RetrainHistory, cooldown_hours: float, max_per_day: int) -> None:
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

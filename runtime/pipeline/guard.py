"""Anti-flapping guard for automatic retraining: a cooldown and a daily cap per model.

The history of past retraining times lives either in a small JSON file (written atomically, so a
crash mid-write never loses it) or on the registered model itself, as a tag, so that every drift
job on the platform sees the same history. Only retrainings that may have produced a version count:
the in-process loop records one once its training succeeded, and a retraining Job started on the cluster
is recorded with its name and forgotten again once that Job has failed (:mod:`.kube`).

Each entry is an ISO time, or ``{"at": <ISO time>, "job": <Job name>}`` for a Job on the cluster.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

__all__ = ["HISTORY_TAG", "History", "RegistryHistory", "RetrainEntry", "RetrainGuard", "RetrainHistory"]

HISTORY_TAG = "mlops.retrain_history"
"""Registered-model tag holding the JSON list of automatic retraining times."""
KEEP = timedelta(days=7)

RetrainEntry = tuple[datetime, str | None]
"""One recorded retraining: when, and the Job that runs it (None for one that ran in process)."""


def _parse(raw: Any) -> list[RetrainEntry]:
    entries: list[RetrainEntry] = []
    for item in raw or []:
        if isinstance(item, dict):
            entries.append((datetime.fromisoformat(str(item["at"])), item.get("job")))
        else:
            entries.append((datetime.fromisoformat(str(item)), None))
    return entries


def _dump(entries: list[RetrainEntry]) -> list[Any]:
    return [at.isoformat() if job is None else {"at": at.isoformat(), "job": job} for at, job in entries]


def _kept(entries: list[RetrainEntry], at: datetime) -> list[RetrainEntry]:
    return [e for e in entries if e[0] >= at - KEEP]


class History(Protocol):
    """Where past retraining times are kept."""

    def load(self) -> dict[str, list[datetime]]: ...

    def entries(self, model: str) -> list[RetrainEntry]: ...

    def record(self, model: str, at: datetime, job: str | None = None) -> None: ...

    def forget(self, model: str, at: datetime) -> None: ...


class RetrainHistory:
    """Past automatic retrainings, by model name, persisted as JSON."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _all(self) -> dict[str, list[RetrainEntry]]:
        if not self.path.is_file():
            return {}
        raw = json.loads(self.path.read_text() or "{}")
        return {model: _parse(items) for model, items in raw.items()}

    def _save(self, history: dict[str, list[RetrainEntry]]) -> None:
        payload = {m: _dump(entries) for m, entries in sorted(history.items())}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".retrain-history-")
        with os.fdopen(fd, "w") as fh:
            json.dump(payload, fh, indent=2)
        os.replace(tmp, self.path)

    def load(self) -> dict[str, list[datetime]]:
        return {model: [at for at, _ in entries] for model, entries in self._all().items()}

    def entries(self, model: str) -> list[RetrainEntry]:
        return self._all().get(model, [])

    def record(self, model: str, at: datetime, job: str | None = None) -> None:
        history = self._all()
        history[model] = [*_kept(history.get(model, []), at), (at, job)]
        self._save(history)

    def forget(self, model: str, at: datetime) -> None:
        history = self._all()
        history[model] = [e for e in history.get(model, []) if e[0] != at]
        self._save(history)


class RegistryHistory:
    """Past automatic retrainings kept on the registered model (tag ``mlops.retrain_history``)."""

    def __init__(self, client: Any, models: list[str]) -> None:
        self.client = client
        self.models = models

    def entries(self, model: str) -> list[RetrainEntry]:
        tags = self.client.get_registered_model(model).tags or {}
        return _parse(json.loads(tags.get(HISTORY_TAG) or "[]"))

    def _save(self, model: str, entries: list[RetrainEntry]) -> None:
        self.client.set_registered_model_tag(model, HISTORY_TAG, json.dumps(_dump(entries)))

    def load(self) -> dict[str, list[datetime]]:
        return {model: [at for at, _ in self.entries(model)] for model in self.models}

    def record(self, model: str, at: datetime, job: str | None = None) -> None:
        self._save(model, [*_kept(self.entries(model), at), (at, job)])

    def forget(self, model: str, at: datetime) -> None:
        self._save(model, [e for e in self.entries(model) if e[0] != at])


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

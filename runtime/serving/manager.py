"""The model being served, and the background task that follows its registry alias.

A new version is loaded, verified and warmed up on a worker thread, then swapped in with one
assignment; requests already holding the old model finish on it. A failed load leaves the current
model serving and is counted in ``mlops_model_load_total{outcome="failure"}``. Until the alias points at
a version (a new cluster before its first promotion) the process stays up, answers not-ready and checks
again every few seconds, so the pod neither crash-loops nor needs a restart once the version appears. A version
served natively because its ONNX export could not be downloaded is loaded again, with a growing delay, until it
loads with ONNX Runtime.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time

from pulumi_mlops.runtime.config import ModelRef

from .errors import ModelLoadError, ModelRefused
from .loader import ModelSource
from .metrics import ServingMetrics
from .model import ServedModel

__all__ = ["MAX_FORMAT_RETRIES", "MAX_FORMAT_RETRY_SECONDS", "ModelManager"]

MAX_FORMAT_RETRY_SECONDS = 900.0
"""Longest delay between loads of a version that waits for its ONNX export (the delay doubles from the poll)."""
MAX_FORMAT_RETRIES = 8
"""Loads of one version for its ONNX export before the native flavor is kept for good."""

log = logging.getLogger(__name__)


class ModelManager:
    """Holds the served model version and swaps in new ones as the alias moves."""

    def __init__(self, ref: ModelRef, source: ModelSource, metrics: ServingMetrics, poll_seconds: float) -> None:
        self.ref = ref
        self.source = source
        self.metrics = metrics
        self.poll_seconds = poll_seconds
        self.current: ServedModel | None = None
        self.last_error: str | None = None
        self._refused: set[str] = set()
        self._retry_delay = poll_seconds
        self._retry_at = 0.0
        self._retries = 0
        self._task: asyncio.Task[None] | None = None

    @property
    def ready(self) -> bool:
        return self.current is not None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="mlops-model-reload")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def install(self, model: ServedModel) -> None:
        """Serve ``model`` from now on.

        The objects alive at this point (libraries, the model) are moved out of the garbage collector's
        scans, so the collections that run on the request path stay short.
        """
        previous = self.current
        self.current = model
        if previous is None or previous.version != model.version:  # a new version starts its own back-off
            self._retry_delay, self._retries = self.poll_seconds, 0
        if model.retry_format:
            self._retry_at = time.monotonic() + self._retry_delay
        gc.freeze()
        self.metrics.model_version.labels(model.name).set(float(model.version) if model.version.isdigit() else 0.0)
        if previous is None:
            log.info("serving %s version %s", model.name, model.version)
        else:
            log.info("swapped %s version %s for version %s", model.name, previous.version, model.version)

    async def check(self) -> bool:
        """Load the version the alias points at if it is not served yet; True when a new version was swapped in."""
        loop = asyncio.get_running_loop()
        try:
            version = await loop.run_in_executor(None, self.source.resolve, self.ref.name, self.ref.alias)
        except ModelLoadError as exc:
            # Polled every few seconds until the alias exists (a new cluster's first hour): say it once per cause.
            if str(exc) != self.last_error:
                log.warning("%s; not ready, checking again every %.0f s", exc, self._delay())
            self.last_error = str(exc)
            return False
        if self.current is not None and self.current.version == version:
            due = self.current.retry_format and self._retries < MAX_FORMAT_RETRIES
            if due and time.monotonic() >= self._retry_at:
                return await self._retry_format(loop, self.current)
            return False
        if version in self._refused:
            return False
        try:
            model = await loop.run_in_executor(None, self.source.load, self.ref.name, version)
        except Exception as exc:
            if isinstance(exc, ModelRefused):
                self._refused.add(version)
            self.last_error = str(exc)
            self.metrics.model_loads.labels("failure").inc()
            keeping = f"; still serving version {self.current.version}" if self.current else ""
            log.error("loading %s version %s failed: %s%s", self.ref.name, version, exc, keeping)
            return False
        self.metrics.model_loads.labels("success").inc()
        self.last_error = None
        self.install(model)
        return True

    async def _retry_format(self, loop: asyncio.AbstractEventLoop, current: ServedModel) -> bool:
        """Load the served version again for its ONNX export; True when the new load was swapped in."""
        model: ServedModel | None = None
        self._retries += 1
        try:
            model = await loop.run_in_executor(None, self.source.load, self.ref.name, current.version)
            why = model.format_reason
        except Exception as exc:
            why = str(exc)
            self.metrics.model_loads.labels("failure").inc()
        if model is None or model.retry_format:
            self.last_error = why
            if self._retries >= MAX_FORMAT_RETRIES:
                log.error(
                    "%s version %s keeps its native flavor: its ONNX export did not load in %d attempts (%s); "
                    "a new version, or a restart, tries again",
                    current.name, current.version, self._retries, why,
                )  # fmt: skip
                return False
            self._retry_delay = min(self._retry_delay * 2, MAX_FORMAT_RETRY_SECONDS)
            self._retry_at = time.monotonic() + self._retry_delay
            log.warning(
                "%s version %s still serves with its native flavor (%s); trying its ONNX export again in %.0f s",
                current.name, current.version, why, self._retry_delay,
            )  # fmt: skip
            return False
        self.last_error = None
        self._retry_delay = self.poll_seconds
        self.metrics.model_loads.labels("success").inc()
        log.info("%s version %s now serves in format %s (%s)", model.name, model.version, model.model_format, why)
        self.install(model)
        return True

    def _delay(self) -> float:
        """Seconds until the next check: the poll interval, at most 5 s while nothing is served yet."""
        return self.poll_seconds if self.current is not None else min(self.poll_seconds, 5.0)

    async def _run(self) -> None:
        while True:
            try:
                await self.check()
            except Exception:
                log.exception("model reload check failed")
            await asyncio.sleep(self._delay())

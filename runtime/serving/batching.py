"""Adaptive micro-batching: concurrent requests are predicted together, one model call per batch.

A single worker takes every request queued while the previous batch was predicting (up to
``max_batch_size`` rows). It waits up to ``max_batch_wait_ms`` for more only while more are expected:
requests already inside the server on their way to the queue, or as many requests as the previous
batch held (their clients are sending again). A lone client is therefore never delayed.

Batches that predict quickly (``inline_ms``, measured as a moving average) run on the event loop,
which saves a thread hand-off and GIL contention per batch; slower models predict on a worker thread
so the loop keeps answering health checks. The CPU time of the model calls (the calling thread's) is
added up in ``model_cpu_seconds``, so what the server spends outside the model can be told apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from .errors import InvalidInput, PredictionFailed, ServingError
from .model import ServedModel, merge_columns
from .protocol import Columns

__all__ = ["MicroBatcher"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Item:
    model: ServedModel
    columns: Columns
    rows: int
    request_id: str
    future: asyncio.Future[np.ndarray]


def _predict_error(model: ServedModel, exc: Exception) -> ServingError:
    if isinstance(exc, ValueError | TypeError | KeyError):
        return InvalidInput(f"model {model.name} version {model.version} rejected the input: {exc}")
    return PredictionFailed(f"model {model.name} version {model.version} failed to predict: {exc}")


class MicroBatcher:
    """Collects concurrent predictions into micro-batches."""

    def __init__(
        self,
        max_batch_size: int,
        max_batch_wait_ms: float,
        *,
        arriving: Callable[[], int] = lambda: 0,
        on_batch: Callable[[ServedModel, list[tuple[str, int]], Columns, np.ndarray], None] | None = None,
        inline_ms: float = 5.0,
    ) -> None:
        self.max_batch_size = max_batch_size
        self.max_wait = max_batch_wait_ms / 1000.0
        self.arriving = arriving
        """Requests inside the server that have not reached the queue yet."""
        self.on_batch = on_batch
        """Called with the model, ``(request_id, rows)`` per request, the merged columns and the predictions."""
        self.inline_seconds = inline_ms / 1000.0
        self._predict_seconds = 0.0
        self.model_cpu_seconds = 0.0
        """CPU seconds of the threads predicting, summed over every model call."""
        self._expected = 1
        self._queue: deque[_Item] = deque()
        self._wakeup = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlops-predict")
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="mlops-batcher")

    async def stop(self) -> None:
        """Finish what is queued, then stop the worker."""
        while self._queue:
            await asyncio.sleep(0.005)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._executor.shutdown(wait=True)

    async def predict(self, model: ServedModel, columns: Columns, rows: int, request_id: str = "") -> np.ndarray:
        """Predict the rows of one request, batched with whatever else is in flight."""
        future: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
        self._queue.append(_Item(model, columns, rows, request_id, future))
        self._wakeup.set()
        return await future

    def _take(self) -> tuple[list[_Item], int]:
        batch = [self._queue.popleft()]
        rows = batch[0].rows
        while self._queue and rows + self._queue[0].rows <= self.max_batch_size:
            item = self._queue.popleft()
            batch.append(item)
            rows += item.rows
        return batch, rows

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            batch, rows = self._take()
            if rows < self.max_batch_size and self.max_wait > 0 and self._more_expected(len(batch)):
                deadline = time.perf_counter() + self.max_wait
                while rows < self.max_batch_size and self._more_expected(len(batch)):
                    remaining = deadline - time.perf_counter()
                    if remaining <= 0:
                        break
                    self._wakeup.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wakeup.wait(), remaining)
                    while self._queue and rows + self._queue[0].rows <= self.max_batch_size:
                        item = self._queue.popleft()
                        batch.append(item)
                        rows += item.rows
                    if self._queue:
                        break
            self._expected = len(batch)
            groups: dict[int, list[_Item]] = {}
            for item in batch:
                groups.setdefault(id(item.model), []).append(item)
            for items in groups.values():
                await self._predict_group(loop, items)

    def _more_expected(self, taken: int) -> bool:
        return self.arriving() > 0 or taken < self._expected

    def _timed(self, model: ServedModel, merged: Columns) -> np.ndarray:
        cpu = time.thread_time()
        try:
            return model.predict_columns(merged)
        finally:
            self.model_cpu_seconds += time.thread_time() - cpu

    async def _predict_group(self, loop: asyncio.AbstractEventLoop, items: list[_Item]) -> None:
        model = items[0].model
        try:
            merged = merge_columns(model.schema, [i.columns for i in items])
            start = time.perf_counter()
            if self._predict_seconds < self.inline_seconds:
                result = self._timed(model, merged)
            else:
                result = await loop.run_in_executor(self._executor, self._timed, model, merged)
            self._predict_seconds = 0.8 * self._predict_seconds + 0.2 * (time.perf_counter() - start)
        except Exception as exc:
            if len(items) > 1:
                for item in items:
                    await self._predict_group(loop, [item])
                return
            if not items[0].future.done():
                items[0].future.set_exception(_predict_error(model, exc))
            return
        if self.on_batch is not None:
            try:
                self.on_batch(model, [(i.request_id, i.rows) for i in items], merged, result)
            except Exception:
                log.exception("recording a batch of %s version %s failed", model.name, model.version)
        offset = 0
        for item in items:
            if not item.future.done():
                item.future.set_result(result[offset : offset + item.rows])
            offset += item.rows

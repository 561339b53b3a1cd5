"""Micro-batching: concurrent requests are predicted together and get exactly their single predictions."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
from serving_support import MODEL, LiveServer, rows, v2_request


def _infer_concurrently(url: str, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    async def run() -> list[dict[str, Any]]:
        async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=64)) as client:
            responses = await asyncio.gather(*(client.post(url, json=b) for b in bodies))
        assert all(r.status_code == 200 for r in responses), [r.text for r in responses if r.status_code != 200]
        return [r.json() for r in responses]

    return asyncio.run(run())


def test_batched_results_equal_single_predictions(serve: Callable[..., LiveServer]) -> None:
    batched = serve(max_batch_size=64, max_batch_wait_ms=20.0)
    single = serve(max_batch_size=1)
    records = rows(96, seed=7)
    sizes = [1, 2, 3, 1, 5, 1, 4, 2] * 3
    bodies, offset = [], 0
    for size in sizes:
        bodies.append(v2_request(records[offset : offset + size]))
        offset += size

    results = _infer_concurrently(f"{batched.url}/v2/models/{MODEL}/infer", bodies)
    for body, result in zip(bodies, results, strict=True):
        alone = httpx.post(f"{single.url}/v2/models/{MODEL}/infer", json=body).json()
        assert result["outputs"][0]["shape"] == alone["outputs"][0]["shape"]
        np.testing.assert_allclose(result["outputs"][0]["data"], alone["outputs"][0]["data"], rtol=0, atol=1e-12)

    metrics = httpx.get(f"{batched.url}/metrics").text
    count = float(re.search(r'mlops_batch_size_count\{model="churn"\} (\S+)', metrics).group(1))  # type: ignore[union-attr]
    total = float(re.search(r'mlops_batch_size_sum\{model="churn"\} (\S+)', metrics).group(1))  # type: ignore[union-attr]
    assert total == sum(sizes) and count < len(sizes), (count, total)


def test_bad_request_in_a_batch_fails_alone(serve: Callable[..., LiveServer]) -> None:
    live = serve(max_batch_size=64, max_batch_wait_ms=20.0)
    good = v2_request(rows(2))
    unknown_plan = v2_request([rows(1)[0] | {"plan": "enterprise"}])
    results = _infer_concurrently(f"{live.url}/v2/models/{MODEL}/infer", [good, unknown_plan, good])
    assert len(results) == 3

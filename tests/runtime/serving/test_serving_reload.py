"""Hot reload: the server follows its alias under load without a failed request, and refuses bad versions."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable

import httpx
import numpy as np
from serving_support import MODEL, LiveServer, Registry, rows, v2_request


async def _load(url: str, stop: asyncio.Event, statuses: Counter[int], versions: Counter[str]) -> None:
    records = rows(4)
    async with httpx.AsyncClient(timeout=10) as client:

        async def worker() -> None:
            while not stop.is_set():
                response = await client.post(url, json=v2_request(records))
                statuses[response.status_code] += 1
                if response.status_code == 200:
                    versions[response.json()["model_version"]] += 1
                await asyncio.sleep(0.01)

        await asyncio.gather(*(worker() for _ in range(3)))


def _wait(predicate: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_hot_reload_under_load_and_refused_version(serve: Callable[..., LiveServer], registry: Registry) -> None:
    live = serve(reload_poll_seconds=1.0)
    manager = live.state.manager
    old = manager.current.version
    url = f"{live.url}/v2/models/{MODEL}/infer"
    statuses: Counter[int] = Counter()
    versions: Counter[str] = Counter()
    new = registry.register(seed=3, alias=None)
    bad = registry.register(seed=4, alias=None, digest="0" * 64)

    async def scenario() -> None:
        stop = asyncio.Event()
        load = asyncio.create_task(_load(url, stop, statuses, versions))
        await asyncio.sleep(0.3)
        began = time.monotonic()
        await asyncio.to_thread(registry.set_alias, new)
        deadline = time.monotonic() + 30
        while manager.current.version != new:
            assert time.monotonic() < deadline, "new version was not swapped in"
            await asyncio.sleep(0.1)
        print(f"swapped in {time.monotonic() - began:.1f}s")
        await asyncio.sleep(0.5)
        stop.set()
        await load

    asyncio.run(scenario())
    assert statuses and set(statuses) == {200}, statuses
    assert versions[old] > 0 and versions[new] > 0, versions
    records = rows(4)
    served = httpx.post(url, json=v2_request(records)).json()
    assert served["model_version"] == new
    np.testing.assert_allclose(served["outputs"][0]["data"], registry.expected(new, records))

    registry.set_alias(bad)
    try:
        _wait(lambda: 'mlops_model_load_total{outcome="failure"} 1.0' in httpx.get(f"{live.url}/metrics").text)
        assert manager.current.version == new
        assert "refusing" in (manager.last_error or "")
        response = httpx.post(url, json=v2_request(records))
        assert response.status_code == 200 and response.json()["model_version"] == new
        assert httpx.get(f"{live.url}/v2/health/ready").status_code == 200
        assert httpx.get(f"{live.url}/v2/models/{MODEL}/versions/{bad}").status_code == 404
    finally:
        registry.set_alias(new)

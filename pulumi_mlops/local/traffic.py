"""Client traffic for a local model server: records sent one per request, answers counted by model version."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

__all__ = ["NON_FEATURES", "Traffic", "records"]

NON_FEATURES = ("customer_id", "event_timestamp", "churned")
"""Columns of the churn data that are not model inputs."""


class Traffic:
    """Sends records to the server's v1 route and counts answers by model version."""

    def __init__(self, base_url: str, model: str, concurrency: int, api_key: str | None = None) -> None:
        import httpx

        self.url = f"{base_url}/v1/models/{model}:predict"
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
        self.client = httpx.Client(timeout=30.0, limits=httpx.Limits(max_connections=concurrency * 2), headers=headers)
        self.pool = ThreadPoolExecutor(concurrency)
        self.lock = threading.Lock()
        self.sent = self.failed = 0
        self.versions: dict[str, int] = {}

    def send(self, record: dict[str, Any]) -> None:
        try:
            response = self.client.post(self.url, json={"instances": [record]})
            version = str(response.json().get("model_version")) if response.status_code == 200 else None
        except Exception:
            version = None
        with self.lock:
            self.sent += 1
            if version is None:
                self.failed += 1
            else:
                self.versions[version] = self.versions.get(version, 0) + 1

    def phase(self, records: list[dict[str, Any]]) -> None:
        list(self.pool.map(self.send, records))

    def close(self) -> None:
        self.pool.shutdown()
        self.client.close()


def records(frame: Any) -> list[dict[str, Any]]:
    return list(frame.drop(columns=[c for c in NON_FEATURES if c in frame.columns]).to_dict(orient="records"))

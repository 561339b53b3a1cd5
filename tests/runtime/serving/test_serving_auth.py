"""API keys on the inference routes: 401 without a valid key, probes and metrics open, rotation by file."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from pulumi_mlops.runtime.serving.auth import load_key_digests
from serving_support import LiveServer, Registry, rows, v2_request

MODEL = "churn"


def _server(serve: Callable[..., LiveServer], registry: Registry, keys: Path) -> LiveServer:
    settings = registry.settings.model_copy(update={"api_keys_file": str(keys)})
    return serve(settings=settings)


def test_inference_needs_a_key_and_probes_do_not(
    serve: Callable[..., LiveServer], registry: Registry, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    keys = tmp_path / "keys"
    second = "k2-" + "b" * 30
    keys.write_text(f"# one key per line\nk1-{'a' * 30}\nsha256:{hashlib.sha256(second.encode()).hexdigest()}\n")
    live = _server(serve, registry, keys)
    infer = f"{live.url}/v2/models/{MODEL}/infer"
    predict = f"{live.url}/v1/models/{MODEL}:predict"
    body = v2_request(rows(2))

    refused = httpx.post(infer, json=body)
    assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Bearer")
    assert "Authorization: Bearer <key>" in refused.json()["error"]
    assert httpx.post(infer, json=body, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert httpx.post(predict, json={"instances": rows(1)}).status_code == 401

    assert httpx.post(infer, json=body, headers={"Authorization": f"Bearer k1-{'a' * 30}"}).status_code == 200
    assert httpx.post(infer, json=body, headers={"X-API-Key": second}).status_code == 200, "a stored digest works"
    assert httpx.post(predict, json={"instances": rows(1)}, headers={"X-API-Key": second}).status_code == 200
    for path in ("/v2/health/live", "/v2/health/ready", f"/v2/models/{MODEL}", "/metrics"):
        assert httpx.get(live.url + path).status_code == 200, path

    # A rotated Secret: the old key stops working, the new one works, without a restart.
    keys.write_text("k3-" + "c" * 30 + "\n")
    stat = keys.stat()
    os.utime(keys, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert httpx.post(infer, json=body, headers={"X-API-Key": second}).status_code == 401
    assert httpx.post(infer, json=body, headers={"X-API-Key": "k3-" + "c" * 30}).status_code == 200

    # An empty or missing file closes the routes instead of opening them.
    keys.write_text("\n")
    os.utime(keys, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))
    assert httpx.post(infer, json=body, headers={"X-API-Key": "k3-" + "c" * 30}).status_code == 401
    keys.unlink()
    with caplog.at_level(logging.ERROR, logger="pulumi_mlops.runtime.serving.auth"):
        for _ in range(3):
            assert httpx.post(infer, json=body, headers={"X-API-Key": "k3-" + "c" * 30}).status_code == 401
    missing = [r for r in caplog.records if "cannot be read" in r.getMessage()]
    assert len(missing) == 1, "a missing file is reported once, not per request"


def test_key_files_take_plain_keys_digests_and_comments(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    digest = hashlib.sha256(b"two").hexdigest()
    keys.write_text(f"one\n\n  # comment\nsha256:{digest}\n")
    assert load_key_digests(keys) == [hashlib.sha256(b"one").digest(), bytes.fromhex(digest)]

"""Shared fixtures: stack previews are computed once per session (each is a full in-process run)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pulumi_mlops.preview import PreviewResult, preview_stack

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def previews() -> Callable[[str], PreviewResult]:
    """``previews("dev")``: the cached preview of a stack."""
    cache: dict[str, PreviewResult] = {}

    def get(stack: str) -> PreviewResult:
        if stack not in cache:
            cache[stack] = preview_stack(stack, ROOT)
        return cache[stack]

    return get


SERVICES = {
    "PostgreSQL": (
        5432,
        "pg_ctlcluster",
        "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql | head -n1) main start",
    ),
    "Redis": (
        6379,
        "redis-server",
        "redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no",
    ),
}


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="session", autouse=True)
def local_services() -> dict[str, bool]:
    """Start PostgreSQL and Redis when they are installed but not running (a fresh machine); the
    integration tests that need them skip with the reason when they still cannot be reached."""
    import shutil
    import subprocess
    import time

    state: dict[str, bool] = {}
    for name, (port, binary, command) in SERVICES.items():
        if not _listening(port) and shutil.which(binary):
            subprocess.run(command, shell=True, capture_output=True, timeout=60, check=False)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not _listening(port):
                time.sleep(0.5)
        state[name] = _listening(port)
    return state

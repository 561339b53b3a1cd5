"""Shared fixtures: stack previews are computed once per session (each is a full in-process run)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pulumi_mlops.preview import PreviewResult, preview_stack

ROOT = Path(__file__).resolve().parents[1]


NODE_GROUPS = "+node-groups"
"""Suffix of a stack name for its preview on managed node groups (``autoscaler: cluster-autoscaler``), the option to
Karpenter that the AWS stacks use by default: ``previews("dev+node-groups")``."""


def _preview_on_node_groups(stack: str) -> PreviewResult:
    from pulumi_mlops.preview import run_program
    from pulumi_mlops.preview.mocks import PlatformMocks
    from pulumi_mlops.spec import CONFIG_KEY, load_stack_config, parse_spec, stack_file

    config = load_stack_config(stack_file(stack, ROOT / "stacks"))
    raw = config[CONFIG_KEY]
    raw["autoscaler"] = "cluster-autoscaler"
    for pool in raw.get("gpu_pools", []):
        for field in ("single_zone", "efa", "instance_families"):
            pool.pop(field, None)
    spec = parse_spec(raw)
    mocks = PlatformMocks(region=spec.region, gcp_project=spec.gcp_project or "preview-project")
    graph = run_program(ROOT / "stacks" / "__main__.py", config, stack=stack, mocks=mocks, root=ROOT)
    return PreviewResult(spec=spec, graph=graph)


@pytest.fixture(scope="session")
def previews() -> Callable[[str], PreviewResult]:
    """``previews("dev")``: the cached preview of a stack; ``previews("dev+node-groups")``: of the stack on managed
    node groups with cluster-autoscaler."""
    cache: dict[str, PreviewResult] = {}

    def get(stack: str) -> PreviewResult:
        if stack not in cache:
            base = stack.removesuffix(NODE_GROUPS)
            cache[stack] = _preview_on_node_groups(base) if base != stack else preview_stack(stack, ROOT)
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

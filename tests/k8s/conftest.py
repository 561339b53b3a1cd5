"""Fixtures: ``PlatformServices`` built under mocks with a hand-made ``ClusterContext``.

Builds are cached per session: one per stack spec (dev, prod) and one for a cluster without
managed database and Redis.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
import pytest
from pulumi_mlops.components.k8s import ClusterContext, DatabaseRef, PlatformServices, PlatformServicesArgs, RedisRef
from pulumi_mlops.components.k8s.manifests import kubernetes_resources, to_manifest

from pulumi_mlops.preview import ResourceGraph, run_program
from pulumi_mlops.spec import CONFIG_KEY, PlatformSpec, load_stack_config, parse_spec

STACKS = Path(__file__).resolve().parents[2] / "stacks"
DB_PASSWORD = "p@ss/word:1"
REGISTRY = "123456789012.dkr.ecr.us-east-1.amazonaws.com/mlops-test"
BUILT = {
    "runtime": f"{REGISTRY}/runtime@sha256:{'1' * 64}",
    "runtime-cuda": f"{REGISTRY}/runtime@sha256:{'2' * 64}",
    "mlflow": f"{REGISTRY}/mlflow@sha256:{'3' * 64}",
}
"""What a cloud's ``PlatformImages`` hands over (``ClusterContext.images``): digest refs as Outputs."""
REDIS_TOKEN = "redis-token"


def _stack_spec(stack: str) -> PlatformSpec:
    path = STACKS / f"Pulumi.{stack}.yaml"
    return parse_spec(load_stack_config(path)[CONFIG_KEY], source=str(path))


def _context(spec: PlatformSpec, managed: bool) -> ClusterContext:
    """Called inside the program: the provider is a resource. Bucket URIs are Outputs, as a cloud gives them."""
    return ClusterContext(
        provider=k8s.Provider("test", kubeconfig="{}"),
        cloud=spec.cloud,
        bucket_uris={
            "models": pulumi.Output.from_input("s3://test-models"),
            "datasets": pulumi.Output.from_input("s3://test-datasets"),
            "prediction-logs": pulumi.Output.from_input("s3://test-prediction-logs"),
        },
        service_account_annotations={"server": {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/server"}},
        tracking_db=DatabaseRef(host="db.internal", password=pulumi.Output.secret(DB_PASSWORD)) if managed else None,
        redis=RedisRef(host="redis.internal", auth_token=pulumi.Output.secret(REDIS_TOKEN)) if managed else None,
        images={name: pulumi.Output.from_input(ref) for name, ref in BUILT.items()},
        gateway_class="test-gateway-class",
        depends_on=[random.RandomString("cluster-addons", length=8)],
    )


@dataclass
class Built:
    """One build: the spec, the captured graph and the component's exports."""

    spec: PlatformSpec
    graph: ResourceGraph
    exports: dict[str, Any]
    images: dict[str, str] = field(default_factory=lambda: dict(BUILT))
    """The built images the cluster context handed over (``ClusterContext.images``), by name."""

    def objects(self, kind: str) -> list[dict[str, Any]]:
        """Manifests (secrets unwrapped, ints restored) of every Kubernetes object of ``kind``."""
        found = [to_manifest(r) for r in kubernetes_resources(self.graph)]
        return [m for m in found if m.get("kind") == kind]

    def one(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
        matches = [
            m
            for m in self.objects(kind)
            if m["metadata"]["name"] == name and (namespace is None or m["metadata"].get("namespace") == namespace)
        ]
        assert len(matches) == 1, f"{len(matches)} {kind} named {name}"
        return matches[0]


def _build(spec: PlatformSpec, managed: bool = True, secrets: dict[str, Any] | None = None) -> Built:
    holder: dict[str, Any] = {}

    def program() -> None:
        given = secrets
        if given is None:
            given = {
                r.url_secret: pulumi.Output.secret(f"https://hooks.example/{r.name}") for r in spec.monitoring.receivers
            }
        services = PlatformServices(
            "mlops", PlatformServicesArgs(spec=spec, context=_context(spec, managed), secrets=given)
        )
        holder["exports"] = services.exports

    graph = run_program(program, config={})
    return Built(spec, graph, holder.get("exports", {}))


@pytest.fixture(scope="session")
def stack_spec() -> Callable[[str], PlatformSpec]:
    """``stack_spec("dev")``: the validated spec of ``stacks/Pulumi.dev.yaml``."""
    return _stack_spec


@pytest.fixture(scope="session")
def build() -> Callable[..., Built]:
    """``build(spec, managed=True, secrets=None)``: an uncached build (for variants and error cases)."""
    return _build


@pytest.fixture(scope="session")
def built() -> Callable[[str], Built]:
    """``built("dev")`` / ``built("prod")``: the cached build of a stack's spec."""
    cache: dict[str, Built] = {}

    def get(stack: str) -> Built:
        if stack not in cache:
            cache[stack] = _build(_stack_spec(stack))
        return cache[stack]

    return get


@pytest.fixture(scope="session")
def unmanaged(built: Callable[[str], Built]) -> Built:
    """The dev spec on a cluster with no managed database and no Redis."""
    return _build(built("dev").spec, managed=False)

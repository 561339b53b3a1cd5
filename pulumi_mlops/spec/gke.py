"""What the spec says about GKE: where a GPU pool's nodes come from (zones, capacity order, DWS queued provisioning,
GPU sharing) and how traffic reaches the endpoints (internal or public Gateway, TLS), with the rules that tie them to
the accelerator, the workloads and the profile."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator

from pulumi_mlops.runtime.config import StrictModel

from .accelerators import GCP_GPU_ZONES, gpu_zones

if TYPE_CHECKING:
    from .platform import GpuPoolSpec, PlatformSpec

__all__ = [
    "COMPACT_FAMILIES",
    "GKE_INTERNAL_CLASS",
    "GKE_PUBLIC_CLASS",
    "MAX_FLEX_START_SECONDS",
    "GkeIngressSpec",
    "GkePoolSpec",
    "GpuCapacity",
    "GpuSharing",
    "compact_placement",
    "gke_problems",
    "obtainability",
    "pool_zones",
    "public_endpoints",
]

GpuCapacity = Literal["reservation", "on_demand", "flex_start", "spot"]
"""Where GKE gets a GPU node: a matching reservation, on-demand capacity, DWS flex-start (obtained when capacity
frees up, kept at most seven days), Spot VMs."""

GKE_INTERNAL_CLASS = "gke-l7-rilb"
"""GatewayClass of a regional internal Application Load Balancer (an address in the node subnet)."""
GKE_PUBLIC_CLASS = "gke-l7-regional-external-managed"
"""GatewayClass of a regional external Application Load Balancer (an internet-facing address)."""
MAX_FLEX_START_SECONDS = 7 * 24 * 3600
"""Longest a DWS flex-start node runs (and a queued-provisioning request may ask for)."""
COMPACT_FAMILIES = frozenset({"a2", "a3", "a4", "g2"})
"""Accelerator-optimized machine families of the accelerator table that take a COMPACT placement policy (N1, which
carries T4s, does not)."""

_HOSTNAME = re.compile(r"^(\*\.)?([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


class GpuSharing(StrictModel):
    """Several containers on one physical GPU (GKE GPU sharing), for models too small to use a whole GPU."""

    strategy: Literal["time-sharing", "mps"]
    """``time-sharing``: containers take turns on the whole GPU; ``mps``: NVIDIA Multi-Process Service runs them
    concurrently, each with an equal share of the GPU's compute and memory."""
    max_shared_clients_per_gpu: int = Field(ge=2, le=48)
    """Containers one GPU serves; each node then offers ``gpus_per_node`` x this many ``nvidia.com/gpu``, and each
    container asks for one."""


class GkePoolSpec(StrictModel):
    """GKE settings of a GPU pool (``gpu_pools[].gke``; GCP only)."""

    zones: list[str] = Field(default_factory=list)
    """Zones the pool's nodes run in (``node_locations``); each must offer the accelerator
    (:data:`pulumi_mlops.spec.accelerators.GCP_GPU_ZONES`). Empty: every zone of the region that offers it. A pool
    that runs multi-node training is placed compactly and needs exactly one."""
    obtainability: list[GpuCapacity] = Field(default_factory=list)
    """Where GKE gets the pool's nodes, in the order it tries them: the priorities of the pool's ComputeClass. The
    pool's own node pool (its ``min_nodes`` floor) stands for its capacity type (``spot``, else ``reservation`` and
    ``on_demand``: it consumes matching reservations first); GKE creates node pools for the other entries when that
    one cannot grow, within the cluster's GPU limit. Empty: ``[spot]`` for spot pools, else ``[reservation,
    on_demand]``."""
    gpu_sharing: GpuSharing | None = None
    """Share each GPU between several containers; every workload on the pool asks for one (shared) GPU."""
    queued_provisioning: bool = False
    """Training Jobs on this pool queue in Kueue and start only when Dynamic Workload Scheduler has provisioned every
    node they need at once (a ProvisioningRequest, DWS flex-start with queued provisioning). The node pool then
    scales only for those requests: it starts at zero, is never spot, and serves no endpoint or batch job."""

    @field_validator("zones")
    @classmethod
    def _distinct(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("list each zone once")
        return v

    @field_validator("obtainability")
    @classmethod
    def _once(cls, v: list[GpuCapacity]) -> list[GpuCapacity]:
        if len(set(v)) != len(v):
            raise ValueError("list each capacity type once, in the order GKE should try them")
        return v


class GkeIngressSpec(StrictModel):
    """How traffic reaches the endpoints on GKE (``gke_ingress``; GCP only)."""

    public: bool | None = None
    """Serve the endpoints on a regional external Application Load Balancer (``gke-l7-regional-external-managed``)
    reachable from the internet; false: a regional internal one (``gke-l7-rilb``) reachable from the VPC and the
    networks connected to it. Empty: internal in the prod profile, public otherwise (or what ``gateway_class`` says)."""
    hostnames: list[str] = Field(default_factory=list)
    """DNS names the endpoints answer on. The Gateway then listens on HTTPS only, with a Google-managed regional
    Certificate Manager certificate for them, authorized by DNS: create the CNAME records of the stack output
    ``certificateDnsRecords``. Required in prod and for public endpoints. Empty: plain HTTP."""

    @field_validator("hostnames")
    @classmethod
    def _names(cls, v: list[str]) -> list[str]:
        for name in v:
            if not _HOSTNAME.match(name):
                raise ValueError(
                    f"{name!r} is not a DNS name: lowercase labels separated by '.', optionally starting with '*.'"
                )
        if len(set(v)) != len(v):
            raise ValueError("list each hostname once")
        return v


def public_endpoints(spec: PlatformSpec) -> bool:
    """Whether the Gateway's load balancer faces the internet."""
    if spec.gke_ingress.public is not None:
        return spec.gke_ingress.public
    if spec.gateway_class:
        return spec.gateway_class == GKE_PUBLIC_CLASS
    return spec.profile != "prod"


def obtainability(pool: GpuPoolSpec) -> list[GpuCapacity]:
    """The pool's capacity order: as given, else what its own node pool is."""
    if pool.gke.obtainability:
        return list(pool.gke.obtainability)
    return ["spot"] if pool.spot else ["reservation", "on_demand"]


def own_capacity(pool: GpuPoolSpec) -> set[str]:
    """Capacity types the pool's own node pool stands for."""
    return {"spot"} if pool.spot else {"reservation", "on_demand"}


def pool_zones(spec: PlatformSpec, pool: GpuPoolSpec) -> list[str]:
    """The zones the pool's nodes run in: as given, else every zone of the region the table lists."""
    if pool.gke.zones:
        return list(pool.gke.zones)
    return list(gpu_zones(pool.accelerator, spec.region) or ())


def multi_node_jobs(spec: PlatformSpec, pool: GpuPoolSpec) -> list[str]:
    """``training[i] (name)`` of the multi-node training jobs that run on ``pool``."""
    return [f"training[{i}] ({t.name})" for i, t in enumerate(spec.training) if t.gpu_pool == pool.name and t.nodes > 1]


def compact_placement(spec: PlatformSpec, pool: GpuPoolSpec) -> bool:
    """A multi-node training job runs on the pool: its nodes are placed close together (COMPACT)."""
    return bool(multi_node_jobs(spec, pool))


def _zone_problems(spec: PlatformSpec, i: int, pool: GpuPoolSpec) -> list[str]:
    where = f"gpu_pools[{i}] ({pool.name})"
    offered = gpu_zones(pool.accelerator, spec.region)
    errors = [
        f"{where}.gke.zones: {z!r} is not a zone of {spec.region}"
        for z in pool.gke.zones
        if not z.startswith(f"{spec.region}-")
    ]
    if offered is None:
        if not pool.gke.zones:
            errors.append(
                f"{where}.gke.zones: the zone table (pulumi_mlops/spec/accelerators.py) does not list "
                f"{pool.accelerator}: name the zones of {spec.region} that offer it "
                f"(gcloud compute accelerator-types list --filter='name={pool.accelerator} AND zone~{spec.region}')"
            )
        return errors
    if not offered:
        regions = ", ".join(sorted(r for r, z in GCP_GPU_ZONES.get(pool.accelerator, {}).items() if z))
        errors.append(f"{where}: {pool.accelerator} is not offered in {spec.region}; regions that offer it: {regions}")
        return errors
    wrong = [z for z in pool.gke.zones if z.startswith(f"{spec.region}-") and z not in offered]
    if wrong:
        errors.append(
            f"{where}.gke.zones: {', '.join(wrong)} offer(s) no {pool.accelerator}; zones of {spec.region} that do: "
            f"{', '.join(offered)}"
        )
    return errors


def _pool_problems(spec: PlatformSpec, i: int, pool: GpuPoolSpec) -> list[str]:
    where = f"gpu_pools[{i}] ({pool.name})"
    gke = pool.gke
    errors = _zone_problems(spec, i, pool)
    multi = multi_node_jobs(spec, pool)
    zones = pool_zones(spec, pool)
    if multi and len(zones) != 1:
        errors.append(
            f"{where}.gke.zones: {', '.join(multi)} run(s) several nodes on this pool, so its nodes are placed "
            f"compactly (COMPACT placement policy) in one zone: set zones to one of {', '.join(zones) or 'its zones'}"
        )
    extra = [c for c in obtainability(pool) if c not in own_capacity(pool)]
    if multi and extra and not gke.queued_provisioning:
        errors.append(
            f"{where}.gke.obtainability: {', '.join(extra)}: node pools GKE creates for other capacity types are not "
            f"compactly placed, and {', '.join(multi)} need(s) that; keep the pool's own capacity only, or queue the "
            "training Jobs (gke.queued_provisioning)"
        )
    if multi and pool.instance_type.split("-")[0] not in COMPACT_FAMILIES:
        errors.append(
            f"{where}: {', '.join(multi)} need(s) compact placement, which {pool.instance_type} does not take: use an "
            f"accelerator-optimized machine type ({', '.join(sorted(COMPACT_FAMILIES))})"
        )
    users = _users(spec, pool.name)
    if gke.queued_provisioning:
        if gke.obtainability:
            errors.append(
                f"{where}.gke.obtainability: a queued-provisioning pool gets its nodes from Dynamic Workload Scheduler "
                "requests only; remove obtainability"
            )
        if pool.spot:
            errors.append(f"{where}.spot: queued provisioning obtains flex-start capacity, never spot: set spot: false")
        if pool.min_nodes:
            errors.append(f"{where}.min_nodes: a queued-provisioning pool starts at zero: set min_nodes: 0")
        if gke.gpu_sharing is not None:
            errors.append(f"{where}.gke.gpu_sharing: a queued-provisioning pool runs whole-GPU training Jobs only")
        for what, kind, seconds in users:
            if kind != "training":
                errors.append(
                    f"{what}: runs on {pool.name}, whose nodes only come for queued training Jobs "
                    "(gke.queued_provisioning): move it to another pool"
                )
            elif seconds > MAX_FLEX_START_SECONDS:
                errors.append(
                    f"{what}.active_deadline_seconds: {seconds} is longer than the seven days "
                    f"({MAX_FLEX_START_SECONDS}) a queued-provisioning node of {pool.name} runs"
                )
    else:
        missing = own_capacity(pool) - set(obtainability(pool))
        if missing == own_capacity(pool):
            own = "spot" if pool.spot else "reservation or on_demand"
            errors.append(
                f"{where}.gke.obtainability: lacks {own}, the capacity of the pool's own node pool "
                f"(spot: {str(pool.spot).lower()}); add it where GKE should try that pool"
            )
    if gke.gpu_sharing is not None:
        if extra:
            errors.append(
                f"{where}.gke.obtainability: {', '.join(extra)}: GKE creates no shared-GPU nodes for other capacity "
                "types; a pool with gpu_sharing uses its own node pool only"
            )
        for what, _, gpus in _gpu_requests(spec, pool.name):
            if gpus != 1:
                errors.append(
                    f"{what}: asks for {gpus} GPUs on {pool.name}, whose GPUs are shared: a container takes one shared "
                    "GPU (resources.gpus: 1)"
                )
    return errors


def _users(spec: PlatformSpec, pool: str) -> list[tuple[str, str, int]]:
    """``(where, kind, active deadline)`` of every workload pinned to ``pool``."""
    found = [(f"endpoints[{i}] ({e.name})", "endpoint", 0) for i, e in enumerate(spec.endpoints) if e.gpu_pool == pool]
    found += [
        (f"training[{i}] ({t.name})", "training", t.active_deadline_seconds)
        for i, t in enumerate(spec.training)
        if t.gpu_pool == pool
    ]
    found += [(f"batch_jobs[{i}] ({b.name})", "batch", 0) for i, b in enumerate(spec.batch_jobs) if b.gpu_pool == pool]
    return found


def _gpu_requests(spec: PlatformSpec, pool: str) -> list[tuple[str, str, int]]:
    """``(where, kind, GPUs per pod)`` of the GPU workloads pinned to ``pool``."""
    found = [
        (f"endpoints[{i}] ({e.name})", "endpoint", e.resources.gpus)
        for i, e in enumerate(spec.endpoints)
        if e.gpu_pool == pool and e.resources.gpus
    ]
    found += [
        (f"endpoints[{i}] ({e.name}).shadow", "endpoint", e.shadow.resources.gpus)
        for i, e in enumerate(spec.endpoints)
        if e.gpu_pool == pool and e.shadow is not None and e.shadow.resources is not None and e.shadow.resources.gpus
    ]
    found += [
        (f"training[{i}] ({t.name})", "training", t.resources.gpus)
        for i, t in enumerate(spec.training)
        if t.gpu_pool == pool and t.resources.gpus
    ]
    found += [
        (f"batch_jobs[{i}] ({b.name})", "batch", b.resources.gpus)
        for i, b in enumerate(spec.batch_jobs)
        if b.gpu_pool == pool and b.resources.gpus
    ]
    return found


def _ingress_problems(spec: PlatformSpec) -> list[str]:
    errors: list[str] = []
    ingress = spec.gke_ingress
    if spec.gateway_class and spec.gateway_class not in (GKE_INTERNAL_CLASS, GKE_PUBLIC_CLASS):
        errors.append(
            f"gateway_class: {spec.gateway_class!r} is not a regional GKE class; the platform wires certificates and "
            f"health checks for {GKE_INTERNAL_CLASS} (internal) and {GKE_PUBLIC_CLASS} (public): set "
            "gke_ingress.public and leave gateway_class empty"
        )
    elif (
        spec.gateway_class and ingress.public is not None and ingress.public != (spec.gateway_class == GKE_PUBLIC_CLASS)
    ):
        errors.append(
            f"gke_ingress.public: {str(ingress.public).lower()} contradicts gateway_class {spec.gateway_class!r}; "
            "set one of them"
        )
    if not ingress.hostnames and (spec.profile == "prod" or public_endpoints(spec)):
        why = "prod endpoints" if spec.profile == "prod" else "public endpoints"
        errors.append(
            f"gke_ingress.hostnames: {why} are served over TLS only: list the DNS names they answer on (a Certificate "
            "Manager certificate is issued for them), or make them internal (gke_ingress.public: false, not in prod)"
        )
    return errors


def gke_problems(spec: PlatformSpec) -> list[str]:
    """Errors of the GKE settings, with the path and the fix (empty when consistent)."""
    if spec.cloud != "gcp":
        used = [f"gpu_pools[{i}] ({p.name}).gke" for i, p in enumerate(spec.gpu_pools) if p.gke != GkePoolSpec()]
        if spec.gke_ingress != GkeIngressSpec():
            used.append("gke_ingress")
        return [f"{where}: GKE settings on cloud {spec.cloud}: remove them" for where in used]
    errors: list[str] = []
    for i, pool in enumerate(spec.gpu_pools):
        errors += _pool_problems(spec, i, pool)
    return errors + _ingress_problems(spec)

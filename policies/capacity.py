"""Deploy readiness, schedulability and capacity: every pod has a node it fits, GPU pools hold their demand.

The node pools come from the graph (EKS managed node groups, Karpenter NodePools with their
EC2NodeClass, GKE node pools, GKE node auto-provisioning when the cluster enables it); what a node
leaves to pods follows each cloud's published reservations (:mod:`pulumi_mlops.spec.instances`).

- ``workload-fits-node-pool``: each pod template tolerates the taints of, is selected onto, and fits
  the allocatable CPU, memory and GPUs of at least one pool. A pod that fits nowhere stays Pending
  forever; a taint a pool's spec adds (``GpuPoolSpec.taints``) and its workloads do not tolerate is
  named as the reason.
- ``node-pool-type-known``: every pool's instance or machine type is in the capacity table.
- ``gpu-pool-demand-fits``: the serving floor (HPA minimum x GPUs of every GPU Deployment on the
  pool, all tracks) plus the largest training job (all pods of an Indexed torchrun job at once) fit
  the pool's maximum, GPU-wise and node by node.
- ``gpu-stack-demand-fits``: that demand over all pools stays within ``maxGpusPerStack``.
- ``gpu-pool-floor-blocks-scale-to-zero`` (advisory): a node group or node pool declared to scale to zero
  that holds a permanent serving floor never does (Karpenter NodePools declare no minimum).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from pulumi_policy import Policy, ReportViolation, StackValidationArgs

from pulumi_mlops.spec.instances import INSTANCE_TABLE, Allocatable

from ._base import ADVISORY, config_value, stack_policy
from ._graph import CRON_JOB, DAEMON_SET, DEPLOYMENT, HELM_RELEASE, JOB, STATEFUL_SET, StackGraph
from ._node_shapes import NodePool, NodeShape
from ._pods import LIMIT_RANGE, PodDemand, limit_defaults, pod_demand
from ._pools import (
    EKS_CLUSTER,
    EKS_NODE_GROUP,
    GKE_CLUSTER,
    GKE_NODE_POOL,
    KARPENTER_NODE_CLASS,
    KARPENTER_NODE_POOL,
    daemon_overhead,
    node_pools,
)

HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
WORKLOADS = (DEPLOYMENT, STATEFUL_SET, DAEMON_SET, JOB, CRON_JOB)
POOLS = (EKS_NODE_GROUP, KARPENTER_NODE_POOL, KARPENTER_NODE_CLASS, GKE_NODE_POOL, GKE_CLUSTER)

RESOURCE_TYPES: tuple[str, ...] = (EKS_CLUSTER, *POOLS, *WORKLOADS, HPA, LIMIT_RANGE, HELM_RELEASE)
"""Every resource type a policy of this module inspects."""

POLICIES: list[Policy] = []

POOL_LABEL = "pulumi-mlops.io/gpu-pool"
_FLOOR_KINDS = (DEPLOYMENT, STATEFUL_SET)
_JOB_KINDS = (JOB, CRON_JOB)


@dataclass
class Placement:
    """Where one pod template can go: pools it lands on (and fits), and why the others are out."""

    demand: PodDemand
    fits: list[NodePool] = field(default_factory=list)
    too_small: list[NodePool] = field(default_factory=list)
    unknown: list[NodePool] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)
    taint_reasons: list[str] = field(default_factory=list)

    @property
    def pods(self) -> int:
        return max(0, self.demand.template.replicas)

    @property
    def gpus(self) -> int:
        return self.pods * self.demand.gpus


@dataclass
class Capacity:
    """The pools of a stack and where each of its pod templates can run."""

    pools: list[NodePool]
    placements: list[Placement]
    daemons: list[PodDemand]


def _free(pool: NodePool, shape: NodeShape, daemons: Sequence[PodDemand]) -> Allocatable | None:
    """A node's allocatable less what the DaemonSets landing on the pool take from it."""
    if shape.allocatable is None:
        return None
    cpu, mem = daemon_overhead(pool, daemons)
    a = shape.allocatable
    return Allocatable(int(a.cpu_milli - cpu), int(a.memory_mib - mem), a.gpus, a.pods)


def _fits(demand: PodDemand, free: Allocatable) -> bool:
    return demand.cpu_milli <= free.cpu_milli and demand.memory_mib <= free.memory_mib and demand.gpus <= free.gpus


def _place(demand: PodDemand, pools: Sequence[NodePool], daemons: Sequence[PodDemand]) -> Placement:
    placement = Placement(demand)
    for pool in pools:
        blocked = demand.untolerated(pool.taints)
        if blocked:
            taints = ", ".join(str(t) for t in blocked)
            placement.excluded.append(f"{pool.name} (taint {taints} not tolerated)")
            placement.taint_reasons.append(f"{pool.name} carries {taints}")
            continue
        shapes = [s for s in pool.shapes if demand.selects(s.labels) is None and s.max_nodes != 0]
        if not shapes:
            why = demand.selects(pool.shapes[0].labels) if pool.shapes else "no instance type it can launch"
            placement.excluded.append(f"{pool.name} ({why})")
            continue
        frees = [_free(pool, s, [d for d in daemons if d is not demand]) for s in shapes]
        if any(f is None for f in frees):
            placement.unknown.append(pool)
            continue
        verdicts = [_fits(demand, f) for f in frees if f is not None]
        if (any(verdicts) if pool.any_shape else all(verdicts)) and (demand.gpus == 0 or pool.gpus_per_node):
            placement.fits.append(pool)
        else:
            placement.too_small.append(pool)
    return placement


def analyse(graph: StackGraph) -> Capacity | None:
    """Pools and placements of a stack; ``None`` when the cluster is not part of the stack (capacity unknown)."""
    if not graph.of_type(EKS_CLUSTER, GKE_CLUSTER):
        return None
    pools = node_pools(graph)
    defaults = limit_defaults(graph)
    demands = [pod_demand(t, defaults) for t in graph.pod_templates()]
    daemons = [d for d in demands if d.template.owner.resource_type == DAEMON_SET]
    return Capacity(pools, [_place(d, pools, daemons) for d in demands], daemons)


def _graph_capacity(args: StackValidationArgs) -> Capacity | None:
    return analyse(StackGraph(args.resources))


@stack_policy(
    "workload-fits-node-pool",
    "Every pod template tolerates the taints of, is selected onto, and fits the allocatable CPU, memory and "
    "GPUs of at least one node pool.",
    (*POOLS, *WORKLOADS, LIMIT_RANGE, EKS_CLUSTER),
    registry=POLICIES,
)
def _workload_fits(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    capacity = _graph_capacity(args)
    if capacity is None:
        return
    for p in capacity.placements:
        if p.fits or p.unknown:
            continue
        d = p.demand
        head = f"{d.label} requests {d.describe()} per pod"
        if p.too_small:
            offered = "; ".join(pool.describe() for pool in p.too_small)
            message = (
                f"{head} but fits no node pool it can land on: {offered} (allocatable per node). "
                "Fix: give it a pool of larger nodes (cluster.system_instance_type for CPU workloads, "
                "gpu_pools[].instance_type for GPU ones) or a dedicated workload pool; its pods stay Pending otherwise"
            )
        else:
            message = f"{head} and can land on no node pool"
            if p.excluded:
                message += f": {'; '.join(p.excluded)}"
            if p.taint_reasons:
                message += (
                    f". A taint is the reason: {'; '.join(p.taint_reasons)}. Fix: tolerate every taint the pool's "
                    "spec gives it (GpuPoolSpec.taints) in the workloads meant for that pool, or drop the taint"
                )
            else:
                message += ". Fix: add a pool whose nodes carry the labels it selects, or correct its nodeSelector"
        if d.template.owner.resource_type == DAEMON_SET:
            message += " (a DaemonSet's pods stay Pending on the nodes it targets)"
        report_violation(message, d.template.owner.urn)


@stack_policy(
    "node-pool-type-known",
    "Every node pool's instance or machine type is in the capacity table, so its allocatable can be computed.",
    POOLS,
    registry=POLICIES,
)
def _type_known(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    capacity = _graph_capacity(args)
    if capacity is None:
        return
    for pool in capacity.pools:
        unknown = sorted({s.type_name for s in pool.shapes if s.allocatable is None})
        if unknown:
            report_violation(
                f"node pool {pool.name} uses {', '.join(unknown)}, which the capacity table does not know: "
                f"add vCPUs, memory, GPUs and max pods of each to {INSTANCE_TABLE}",
                pool.res.urn,
            )
        elif not pool.shapes:
            report_violation(
                f"node pool {pool.name}: no instance type in {INSTANCE_TABLE} satisfies its requirements and "
                "limits, so it can never launch a node: widen the requirements or raise spec.limits",
                pool.res.urn,
            )


@dataclass
class _Demand:
    """GPU demand on a set of pools: the serving floor and the largest job that must run whole."""

    pools: list[NodePool]
    floor: list[Placement]
    jobs: list[Placement]

    @property
    def largest_job(self) -> Placement | None:
        return max(self.jobs, key=lambda p: p.gpus, default=None)

    @property
    def gpus(self) -> int:
        job = self.largest_job
        return sum(p.gpus for p in self.floor) + (job.gpus if job else 0)

    @property
    def capacity(self) -> int | None:
        caps = [p.max_gpus for p in self.pools]
        return None if any(c is None for c in caps) else sum(c for c in caps if c is not None)

    def explain(self) -> str:
        floor = ", ".join(f"{p.demand.template.name} {p.pods} x {p.demand.gpus}" for p in self.floor) or "none"
        text = f"serving floor {sum(p.gpus for p in self.floor)} GPUs ({floor})"
        job = self.largest_job
        if job is not None:
            text += (
                f" + largest job {job.demand.template.name} {job.pods} pods x {job.demand.gpus} GPUs = {job.gpus} "
                "(all pods of the job run at once)"
            )
        return text


def _gpu_placements(capacity: Capacity) -> list[Placement]:
    """Placements of GPU pods (not DaemonSets) that fit at least one GPU pool."""
    return [
        p
        for p in capacity.placements
        if p.demand.gpus
        and p.demand.template.owner.resource_type != DAEMON_SET
        and any(pool.gpus_per_node for pool in p.fits)
    ]


def _gpu_demands(capacity: Capacity) -> list[_Demand]:
    """GPU demand grouped by the set of GPU pools each workload fits; a set also carries its subsets' demand."""
    keyed: dict[frozenset[str], list[Placement]] = {}
    by_name = {pool.name: pool for pool in capacity.pools}
    for p in _gpu_placements(capacity):
        keyed.setdefault(frozenset(pool.name for pool in p.fits if pool.gpus_per_node), []).append(p)
    result = []
    for key in sorted(keyed, key=lambda k: (len(k), sorted(k))):
        members = [p for k, ps in keyed.items() if k <= key for p in ps]
        result.append(
            _Demand(
                pools=[by_name[n] for n in sorted(key)],
                floor=[p for p in members if p.demand.template.owner.resource_type in _FLOOR_KINDS],
                jobs=[p for p in members if p.demand.template.owner.resource_type in _JOB_KINDS],
            )
        )
    return result


def _nodes_needed(pool: NodePool, pods: Sequence[PodDemand], daemons: Sequence[PodDemand]) -> int | None:
    """Nodes of a single-type pool that first-fit-decreasing packing needs for ``pods`` (``None``: unknown)."""
    if len(pool.shapes) != 1:
        return None
    free = _free(pool, pool.shapes[0], daemons)
    if free is None:
        return None
    nodes: list[list[float]] = []
    for d in sorted(pods, key=lambda d: (d.gpus, d.cpu_milli, d.memory_mib), reverse=True):
        for node in nodes:
            if d.gpus <= node[0] and d.cpu_milli <= node[1] and d.memory_mib <= node[2]:
                node[0], node[1], node[2] = node[0] - d.gpus, node[1] - d.cpu_milli, node[2] - d.memory_mib
                break
        else:
            nodes.append([free.gpus - d.gpus, free.cpu_milli - d.cpu_milli, free.memory_mib - d.memory_mib])
    return len(nodes)


def _fix(pools: Sequence[NodePool], needed: str) -> str:
    names = ", ".join(sorted({v for p in pools for s in p.shapes for v in (s.labels.get(POOL_LABEL) or ())}))
    where = f"gpu_pools ({names})" if names else "the pool"
    return (
        f"Fix: raise max_nodes of {where} so it holds at least {needed}, keep shadow tracks off GPUs where their "
        "answers are not needed (shadow.resources without gpus), or give training its own pool"
    )


@stack_policy(
    "gpu-pool-demand-fits",
    "The serving floor (min replicas x GPUs of every GPU Deployment, all tracks) plus the largest training job "
    "fits each GPU pool's maximum GPUs and nodes.",
    (*POOLS, DEPLOYMENT, STATEFUL_SET, JOB, CRON_JOB, HPA),
    registry=POLICIES,
)
def _gpu_pool_demand(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    capacity = _graph_capacity(args)
    if capacity is None:
        return
    failed: list[frozenset[str]] = []
    for demand in _gpu_demands(capacity):
        key = frozenset(p.name for p in demand.pools)
        if any(f <= key for f in failed):
            continue
        cap = demand.capacity
        pools = " + ".join(
            f"{p.name} max {p.max_nodes} nodes x {p.gpus_per_node} GPUs" if p.max_nodes is not None else p.name
            for p in demand.pools
        )
        if cap is not None and demand.gpus > cap:
            failed.append(key)
            report_violation(
                f"GPU pool {pools} = {cap} GPUs cannot hold its demand of {demand.gpus} GPUs: {demand.explain()}; "
                f"the job never starts while the floor holds the GPUs. {_fix(demand.pools, f'{demand.gpus} GPUs')}",
                demand.pools[0].res.urn,
            )
            continue
        if len(demand.pools) != 1 or demand.pools[0].max_nodes is None:
            continue
        pool = demand.pools[0]
        job = demand.largest_job
        pods = [p.demand for p in demand.floor for _ in range(p.pods)]
        pods += [job.demand] * job.pods if job else []
        needed = _nodes_needed(pool, pods, capacity.daemons)
        if needed is not None and pool.max_nodes is not None and needed > pool.max_nodes:
            failed.append(key)
            report_violation(
                f"GPU pool {pool.describe()} needs {needed} nodes for its demand but may grow to {pool.max_nodes}: "
                f"{demand.explain()}; pods do not split across nodes. {_fix([pool], f'{needed} nodes')}",
                pool.res.urn,
            )


@stack_policy(
    "gpu-stack-demand-fits",
    "The GPU demand of all pools together (serving floors plus the largest job of each pool) stays within "
    "maxGpusPerStack.",
    (*POOLS, DEPLOYMENT, STATEFUL_SET, JOB, CRON_JOB, HPA),
    config=("maxGpusPerStack",),
    registry=POLICIES,
)
def _gpu_stack_demand(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    capacity = _graph_capacity(args)
    if capacity is None:
        return
    cap = int(config_value(args, "maxGpusPerStack"))
    exact: dict[frozenset[str], _Demand] = {}
    for p in _gpu_placements(capacity):
        key = frozenset(pool.name for pool in p.fits if pool.gpus_per_node)
        entry = exact.setdefault(key, _Demand([pool for pool in p.fits if pool.gpus_per_node], [], []))
        (entry.floor if p.demand.template.owner.resource_type in _FLOOR_KINDS else entry.jobs).append(p)
    total = sum(d.gpus for d in exact.values())
    if total > cap:
        parts = "; ".join(f"{' + '.join(p.name for p in d.pools)}: {d.gpus} ({d.explain()})" for d in exact.values())
        biggest = max(exact.values(), key=lambda d: d.gpus)
        report_violation(
            f"GPU demand of the stack is {total} GPUs, over maxGpusPerStack ({cap}): {parts}. Fix: lower serving "
            "floors or job sizes, or raise cost.max_gpus_per_stack if the budget allows",
            biggest.pools[0].res.urn,
        )


@stack_policy(
    "gpu-pool-floor-blocks-scale-to-zero",
    "A managed node group or GKE node pool declared to scale to zero (min 0) holds no permanent serving floor that "
    "keeps a node running (Karpenter NodePools declare no minimum and are not checked).",
    (*POOLS, DEPLOYMENT, STATEFUL_SET, HPA),
    level=ADVISORY,
    registry=POLICIES,
)
def _floor_blocks_zero(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    capacity = _graph_capacity(args)
    if capacity is None:
        return
    for pool in capacity.pools:
        if pool.min_nodes > 0 or pool.kind == "karpenter":
            continue
        pinned = [
            p
            for p in capacity.placements
            if p.demand.template.owner.resource_type in _FLOOR_KINDS and p.pods > 0 and p.fits == [pool]
        ]
        if not pinned:
            continue
        nodes = math.ceil(sum(p.gpus for p in pinned) / pool.gpus_per_node) if pool.gpus_per_node else 1
        names = ", ".join(f"{p.demand.label} ({p.pods} pods)" for p in pinned)
        report_violation(
            f"node pool {pool.name} is declared to scale to zero (min 0) but {names} can run only there, so at "
            f"least {max(1, nodes)} node(s) stay up: move those workloads off the pool (e.g. CPU-only shadow "
            "tracks), or set the pool's min_nodes to the floor so the cost is stated",
            pool.res.urn,
        )

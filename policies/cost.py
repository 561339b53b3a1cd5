"""Cost guardrails: GPU caps per pool and per stack (from ``PlatformSpec.cost``), dev pools scale to zero."""

from __future__ import annotations

from collections.abc import Callable

from pulumi_policy import Policy, ReportViolation, ResourceValidationArgs, StackValidationArgs

from ._base import ADVISORY, config_value, get, profile_of, resource_policy, stack_policy
from .compute import EKS_NODE_GROUP, GKE_NODE_POOL, GPU_POOL_TYPES, KARPENTER_NODE_POOL, gpu_pool_info, pool_max_gpus

Report = Callable[[str], None]

LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"

RESOURCE_TYPES: tuple[str, ...] = (*GPU_POOL_TYPES, LOG_GROUP)
"""Every resource type a policy of this module checks."""

POLICIES: list[Policy] = []


@resource_policy(
    "gpu-pool-max-gpus",
    "A GPU pool's max nodes x GPUs per node stays under the configured cap (maxGpusPerPool).",
    GPU_POOL_TYPES,
    config=("maxGpusPerPool",),
    registry=POLICIES,
)
def _gpu_cap(args: ResourceValidationArgs, report: Report) -> None:
    is_gpu, _, _ = gpu_pool_info(args.resource_type, args.props)
    if not is_gpu:
        return
    cap = int(config_value(args, "maxGpusPerPool"))
    total, how = pool_max_gpus(args.resource_type, args.props)
    if total is None:
        report(how)
    elif total > cap:
        report(f"{how} = {total} GPUs exceeds maxGpusPerPool ({cap})")


@stack_policy(
    "gpu-stack-max-gpus",
    "All GPU pools of a stack together stay under the configured cap (maxGpusPerStack).",
    GPU_POOL_TYPES,
    config=("maxGpusPerStack",),
    registry=POLICIES,
)
def _gpu_stack_cap(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    cap = int(config_value(args, "maxGpusPerStack"))
    total, parts = 0, []
    for res in args.resources:
        if res.resource_type not in GPU_POOL_TYPES:
            continue
        is_gpu, _, _ = gpu_pool_info(res.resource_type, res.props)
        gpus = pool_max_gpus(res.resource_type, res.props)[0] if is_gpu else None
        if gpus is not None:
            total += gpus
            parts.append(f"{res.name}={gpus}")
    if total > cap:
        report_violation(f"GPU pools can reach {total} GPUs ({', '.join(parts)}), over maxGpusPerStack ({cap})", None)


@resource_policy(
    "gpu-pool-scale-to-zero-in-dev",
    "GPU node pools of dev environments can scale to zero nodes.",
    GPU_POOL_TYPES,
    level=ADVISORY,
    config=("profile",),
    registry=POLICIES,
)
def _gpu_zero(args: ResourceValidationArgs, report: Report) -> None:
    if profile_of(args) != "dev" or args.resource_type == KARPENTER_NODE_POOL:  # Karpenter always scales to zero
        return
    is_gpu, _, _ = gpu_pool_info(args.resource_type, args.props)
    if not is_gpu:
        return
    path = "scalingConfig.minSize" if args.resource_type == EKS_NODE_GROUP else "autoscaling.minNodeCount"
    if args.resource_type == GKE_NODE_POOL and get(args.props, "autoscaling.totalMinNodeCount") is not None:
        path = "autoscaling.totalMinNodeCount"
    minimum = get(args.props, path)
    if minimum is None or float(minimum) > 0:
        report(f"{path} is {minimum!r} in dev: let idle GPU pools scale to 0")


@resource_policy(
    "log-group-retention",
    "CloudWatch log groups expire their logs (retentionInDays set) instead of keeping them forever.",
    [LOG_GROUP],
    registry=POLICIES,
)
def _log_retention(args: ResourceValidationArgs, report: Report) -> None:
    days = get(args.props, "retentionInDays")
    if days is None or float(days) <= 0:
        report("retentionInDays is not set: logs would be kept (and billed) forever")

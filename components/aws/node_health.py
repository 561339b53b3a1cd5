"""Node health on EKS: the node monitoring agent reports faults as node conditions, and node auto-repair acts on them.

The ``eks-node-monitoring-agent`` add-on runs on every node (it tolerates every taint) and sets conditions such as
``AcceleratedHardwareReady`` (NVIDIA Xid errors, DCGM diagnostics), ``KernelReady``, ``NetworkingReady`` and
``StorageReady``. Managed node groups with ``node_repair_config`` enabled, and Karpenter with its ``NodeRepair``
feature gate, replace (or reboot) nodes whose conditions stay unhealthy (EKS user guide, "node-health").
"""

from __future__ import annotations

import pulumi_aws as aws

__all__ = ["KARPENTER_FEATURE_GATES", "NODES_REPAIRED_AT_ONCE", "NODE_MONITORING_AGENT", "node_repair_config"]

NODE_MONITORING_AGENT = "eks-node-monitoring-agent"
"""EKS add-on name of the node monitoring agent."""
NODES_REPAIRED_AT_ONCE = 1
"""Nodes of one node group EKS repairs in parallel: a GPU node at a time, so a fleet-wide fault (a bad driver
release) does not drain a whole pool at once."""
KARPENTER_FEATURE_GATES = {"nodeRepair": True}
"""Karpenter chart ``settings.featureGates``: node repair is an alpha gate (off by default in 1.9); Karpenter then
replaces nodes whose monitoring-agent conditions stay false past their toleration (``AcceleratedHardwareReady``:
10 minutes)."""


def node_repair_config() -> aws.eks.NodeGroupNodeRepairConfigArgs:
    """``node_repair_config`` of every managed node group: auto-repair on, one node at a time."""
    return aws.eks.NodeGroupNodeRepairConfigArgs(enabled=True, max_parallel_nodes_repaired_count=NODES_REPAIRED_AT_ONCE)

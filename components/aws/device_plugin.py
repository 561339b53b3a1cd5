"""NVIDIA device plugin (advertises ``nvidia.com/gpu``) and DCGM exporter (GPU metrics) on every GPU node."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
from pulumi_mlops.components.k8s.context import GpuScheduling

from pulumi_mlops.spec import GpuPoolSpec

from .gpu_node_pool import pool_taints

__all__ = [
    "DCGM_EXPORTER_CHART",
    "DEVICE_PLUGIN_CHART",
    "HelmChart",
    "NvidiaGpuAddons",
    "NvidiaGpuAddonsArgs",
    "dcgm_exporter_values",
    "device_plugin_values",
    "gpu_tolerations",
]


@dataclass(frozen=True)
class HelmChart:
    """A chart pinned to one version in one repository."""

    name: str
    version: str
    repo: str


DEVICE_PLUGIN_CHART = HelmChart("nvidia-device-plugin", "0.17.1", "https://nvidia.github.io/k8s-device-plugin")
DCGM_EXPORTER_CHART = HelmChart("dcgm-exporter", "4.8.1", "https://nvidia.github.io/dcgm-exporter/helm-charts")

NAMESPACE = "kube-system"
BOTTLEROCKET = "BOTTLEROCKET_x86_64_NVIDIA"
"""Bottlerocket's NVIDIA image registers GPUs itself; the device plugin daemon set skips its nodes."""


def gpu_tolerations(pools: Sequence[GpuPoolSpec], gpu: GpuScheduling) -> list[dict[str, str]]:
    """One toleration per distinct (key, effect) of every GPU pool's taints."""
    seen: dict[tuple[str, str], dict[str, str]] = {}
    for key, _value, effect in [(gpu.taint_key, gpu.taint_value, gpu.taint_effect)] + [
        t for p in pools for t in pool_taints(p, gpu)
    ]:
        seen.setdefault((key, effect), {"key": key, "operator": "Exists", "effect": effect})
    return list(seen.values())


def _on_pools(gpu: GpuScheduling, pool_names: Sequence[str]) -> dict[str, Any]:
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": gpu.pool_label, "operator": "In", "values": sorted(pool_names)}]}
                ]
            }
        }
    }


def device_plugin_values(pools: Sequence[GpuPoolSpec], gpu: GpuScheduling) -> dict[str, Any]:
    """Helm values of the device plugin: on GPU nodes of pools whose image lacks a built-in plugin."""
    names = [p.name for p in pools if p.ami_type != BOTTLEROCKET]
    return {
        "priorityClassName": "system-node-critical",
        "nodeSelector": {"nvidia.com/gpu.present": "true"},
        "affinity": _on_pools(gpu, names),
        "tolerations": gpu_tolerations(pools, gpu),
    }


def dcgm_exporter_values(pools: Sequence[GpuPoolSpec], gpu: GpuScheduling) -> dict[str, Any]:
    """Helm values of DCGM exporter: every GPU node, scraped through a ServiceMonitor."""
    return {
        "nodeSelector": {"nvidia.com/gpu.present": "true"},
        "affinity": _on_pools(gpu, [p.name for p in pools]),
        "tolerations": gpu_tolerations(pools, gpu),
        "serviceMonitor": {"enabled": True, "interval": "30s", "honorLabels": False},
    }


@dataclass
class NvidiaGpuAddonsArgs:
    """Inputs of :class:`NvidiaGpuAddons`."""

    pools: Sequence[GpuPoolSpec]
    """GPU pools whose nodes the daemon sets run on."""
    gpu: GpuScheduling = field(default_factory=GpuScheduling)
    """Taint and pool label of the GPU nodes."""
    depends_on: Sequence[pulumi.Resource] = ()
    """Resources the releases wait for (node pools, add-ons)."""


class NvidiaGpuAddons(pulumi.ComponentResource):
    """Helm releases of the NVIDIA device plugin and DCGM exporter, both pinned.

    Pass the Kubernetes provider in ``opts.providers``. Output: ``releases``.
    """

    releases: list[k8s.helm.v3.Release]

    def __init__(self, name: str, args: NvidiaGpuAddonsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pulumi-mlops:aws:NvidiaGpuAddons", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))
        self.releases = []
        charts = [(DCGM_EXPORTER_CHART, dcgm_exporter_values(args.pools, args.gpu))]
        if any(p.ami_type != BOTTLEROCKET for p in args.pools):
            charts.insert(0, (DEVICE_PLUGIN_CHART, device_plugin_values(args.pools, args.gpu)))
        for chart, values in charts:
            self.releases.append(
                k8s.helm.v3.Release(
                    f"{name}-{chart.name}",
                    name=chart.name,
                    chart=chart.name,
                    version=chart.version,
                    repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repo),
                    namespace=NAMESPACE,
                    values=values,
                    atomic=True,
                    opts=child,
                )
            )
        self.register_outputs({"releases": [r.status for r in self.releases]})

"""CRDs the platform's own add-ons render objects of, installed once, before anything uses them.

The Prometheus Operator CRDs (``monitoring.coreos.com``: ServiceMonitor, PodMonitor, PrometheusRule,
AlertmanagerConfig ...) are installed by the ``prometheus-operator-crds`` chart right after the
cluster is up, so that the cloud layer's add-ons (DCGM exporter, Karpenter, the gateway controller)
can ship ServiceMonitors before kube-prometheus-stack exists. kube-prometheus-stack then runs with
``crds.enabled: false``. The CRD chart's version follows the operator version of the pinned
kube-prometheus-stack chart (its ``appVersion``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

__all__ = [
    "OPERATOR_CRDS_CHART",
    "OPERATOR_CRDS_FOR_STACK",
    "MonitoringCrds",
    "MonitoringCrdsArgs",
    "operator_crds_version",
]

OPERATOR_CRDS_CHART = "prometheus-operator-crds"
OPERATOR_CRDS_REPO = "https://prometheus-community.github.io/helm-charts"
OPERATOR_CRDS_FOR_STACK: dict[str, str] = {
    "77.6.2": "23.0.0",
}
"""kube-prometheus-stack chart version -> prometheus-operator-crds chart version of the same operator
(77.6.2 and 23.0.0 both carry Prometheus Operator v0.85.0: their Chart.yaml appVersion)."""


def operator_crds_version(kube_prometheus_stack_version: str) -> str:
    """The CRD chart matching a kube-prometheus-stack version; an unknown version names the table to extend."""
    try:
        return OPERATOR_CRDS_FOR_STACK[kube_prometheus_stack_version]
    except KeyError:
        known = ", ".join(sorted(OPERATOR_CRDS_FOR_STACK))
        raise ValueError(
            f"monitoring.chart_version {kube_prometheus_stack_version}: no prometheus-operator-crds version is pinned "
            f"for it (known: {known}); add the chart whose appVersion matches to OPERATOR_CRDS_FOR_STACK in "
            "components/k8s/crds.py"
        ) from None


@dataclass
class MonitoringCrdsArgs:
    """Inputs of :class:`MonitoringCrds`."""

    kube_prometheus_stack_version: str
    """Pinned kube-prometheus-stack chart version (``MonitoringSpec.chart_version``); selects the CRD chart."""
    depends_on: Sequence[pulumi.Resource] = ()
    """Resources the release waits for (the cluster and its nodes)."""


class MonitoringCrds(pulumi.ComponentResource):
    """The ``prometheus-operator-crds`` Helm release. Pass the Kubernetes provider in ``opts``.

    Output: ``release``; anything that creates or renders ``monitoring.coreos.com`` objects waits for it.
    """

    release: k8s.helm.v3.Release

    def __init__(self, name: str, args: MonitoringCrdsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pulumi-mlops:k8s:MonitoringCrds", name, None, opts)
        self.release = k8s.helm.v3.Release(
            f"{name}-prometheus-operator",
            name=OPERATOR_CRDS_CHART,
            chart=OPERATOR_CRDS_CHART,
            version=operator_crds_version(args.kube_prometheus_stack_version),
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=OPERATOR_CRDS_REPO),
            namespace="kube-system",
            atomic=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
        )
        self.register_outputs({"release": self.release.status})

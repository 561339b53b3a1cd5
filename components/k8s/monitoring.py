"""``Monitoring``: kube-prometheus-stack, Pushgateway, alert rules, Grafana dashboards, alert receivers.

The rule groups come from :mod:`.alert_rules`, the dashboards from :mod:`.dashboards`. Receiver URLs
and keys live in a Secret that an ``AlertmanagerConfig`` references.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
from pulumi_mlops.runtime.config import DriftThresholds

from pulumi_mlops.spec import EndpointSpec, MonitoringSpec

from .alert_rules import endpoint_rules, platform_rules
from .context import ClusterContext
from .dashboards import dashboards
from .namespaces import PUSHGATEWAY_PORT
from .runtime_config import secret_value
from .workload import POD_USER, child_opts, labels

__all__ = [
    "ALERTMANAGER_CONFIG_LABEL",
    "GRAFANA_DASHBOARD_LABEL",
    "PROMETHEUS_CHARTS_REPO",
    "PUSHGATEWAY_CHART_VERSION",
    "Monitoring",
    "MonitoringArgs",
    "dashboards",
    "endpoint_rules",
    "platform_rules",
]

PROMETHEUS_CHARTS_REPO = "https://prometheus-community.github.io/helm-charts"
"""Helm repository of kube-prometheus-stack and prometheus-pushgateway."""
PUSHGATEWAY_CHART_VERSION = "3.4.1"
"""Pinned prometheus-pushgateway chart version."""
GRAFANA_DASHBOARD_LABEL = "grafana_dashboard"
"""Label the Grafana sidecar loads dashboards ConfigMaps by (value ``"1"``)."""
ALERTMANAGER_CONFIG_LABEL = "pulumi-mlops.io/alertmanager-config"
"""Label selecting the platform's AlertmanagerConfig."""
_RELEASE = "kps"
_RECEIVERS_SECRET = "alert-receivers"


@dataclass
class MonitoringArgs:
    """Inputs of :class:`Monitoring`."""

    context: ClusterContext
    """The cluster (provider)."""
    monitoring: MonitoringSpec
    """Chart version, retention, storage, thresholds and receivers."""
    drift_thresholds: DriftThresholds
    """Drift thresholds (the drift-share alert uses ``drift_share``)."""
    endpoints: Sequence[EndpointSpec]
    """Endpoints that get alert rules."""
    namespace: str
    """Monitoring namespace."""
    serving_namespace: str
    """Namespace of the model servers (rule and dashboard selectors)."""
    training_namespace: str
    """Namespace of training jobs (rule selector)."""
    receiver_urls: Mapping[str, pulumi.Input[str]]
    """Receiver name -> webhook URL, Slack URL or PagerDuty routing key (secrets)."""
    grafana_admin_password: pulumi.Input[str]
    """Grafana ``admin`` password (a secret)."""
    pushgateway_chart_version: str = PUSHGATEWAY_CHART_VERSION
    """Pinned prometheus-pushgateway chart version."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Platform tags put on every object."""
    depends_on: Sequence[pulumi.Resource] = ()
    """Resources (namespace) the objects wait for."""


class Monitoring(pulumi.ComponentResource):
    """Helm releases, PrometheusRules, dashboards and Alertmanager receivers.

    Outputs: ``release`` (the kube-prometheus-stack Release: custom resources of its CRDs depend on
    it), ``grafana_url``, ``prometheus_url``, ``pushgateway_url`` (in-cluster).
    """

    release: k8s.helm.v3.Release
    grafana_url: str
    prometheus_url: str
    pushgateway_url: str

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pulumi-mlops:k8s:Monitoring", name, None, opts)
        ctx, mon, ns = args.context, args.monitoring, args.namespace
        deps = list(args.depends_on)
        obj_labels = labels("monitoring", ns, "monitoring", args.labels)
        missing = sorted(r.name for r in mon.receivers if r.name not in args.receiver_urls)
        if missing:
            raise ValueError(f"alert receivers {missing} have no URL: pass their url_secret values as receiver_urls")

        grafana_secret = k8s.core.v1.Secret(
            f"{name}-grafana-admin",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="grafana-admin", namespace=ns, labels=obj_labels),
            type="Opaque",
            string_data={"admin-user": "admin", "admin-password": secret_value(args.grafana_admin_password)},
            opts=child_opts(self, ctx, *deps),
        )
        values: dict[str, Any] = {
            "fullnameOverride": _RELEASE,
            "crds": {"enabled": False},
            "commonLabels": dict(args.labels),
            "prometheus": {
                "prometheusSpec": {
                    "retention": f"{mon.retention_days}d",
                    "storageSpec": {
                        "volumeClaimTemplate": {
                            "spec": {
                                "accessModes": ["ReadWriteOnce"],
                                "resources": {"requests": {"storage": f"{mon.storage_gb}Gi"}},
                            }
                        }
                    },
                    "serviceMonitorSelectorNilUsesHelmValues": False,
                    "podMonitorSelectorNilUsesHelmValues": False,
                    "ruleSelectorNilUsesHelmValues": False,
                    "probeSelectorNilUsesHelmValues": False,
                }
            },
            "alertmanager": {
                "alertmanagerSpec": {
                    "alertmanagerConfigSelector": {"matchLabels": {ALERTMANAGER_CONFIG_LABEL: "true"}},
                    "alertmanagerConfigMatcherStrategy": {"type": "None"},
                }
            },
            "grafana": {
                "fullnameOverride": "grafana",
                "admin": {"existingSecret": "grafana-admin", "userKey": "admin-user", "passwordKey": "admin-password"},
                "sidecar": {
                    "dashboards": {
                        "enabled": True,
                        "label": GRAFANA_DASHBOARD_LABEL,
                        "labelValue": "1",
                        "searchNamespace": ns,
                    }
                },
            },
        }
        self.release = k8s.helm.v3.Release(
            f"{name}-kube-prometheus-stack",
            k8s.helm.v3.ReleaseArgs(
                name=_RELEASE,
                chart="kube-prometheus-stack",
                version=mon.chart_version,
                repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=PROMETHEUS_CHARTS_REPO),
                namespace=ns,
                values=values,
                atomic=True,
                cleanup_on_fail=True,
                timeout=900,
            ),
            opts=child_opts(self, ctx, grafana_secret, *deps),
        )
        k8s.helm.v3.Release(
            f"{name}-pushgateway",
            k8s.helm.v3.ReleaseArgs(
                name="pushgateway",
                chart="prometheus-pushgateway",
                version=args.pushgateway_chart_version,
                repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=PROMETHEUS_CHARTS_REPO),
                namespace=ns,
                values={
                    "fullnameOverride": "pushgateway",
                    # the chart's default serviceMonitor.namespace is "monitoring", not the release namespace
                    "serviceMonitor": {"enabled": True, "honorLabels": True, "namespace": ns},
                    "securityContext": {"runAsNonRoot": True, "runAsUser": POD_USER, "fsGroup": POD_USER},
                    "containerSecurityContext": {
                        "allowPrivilegeEscalation": False,
                        "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]},
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                },
                atomic=True,
            ),
            opts=child_opts(self, ctx, self.release, *deps),
        )
        after_crds = child_opts(self, ctx, self.release, *deps)

        for ep in args.endpoints:
            k8s.apiextensions.CustomResource(
                f"{name}-rules-{ep.name}",
                api_version="monitoring.coreos.com/v1",
                kind="PrometheusRule",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{ep.name}-alerts", namespace=ns, labels=obj_labels),
                spec={"groups": endpoint_rules(ep, args.serving_namespace, mon, args.drift_thresholds)},
                opts=after_crds,
            )
        k8s.apiextensions.CustomResource(
            f"{name}-rules-platform",
            api_version="monitoring.coreos.com/v1",
            kind="PrometheusRule",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="platform-alerts", namespace=ns, labels=obj_labels),
            spec={"groups": platform_rules(args.training_namespace)},
            opts=after_crds,
        )

        for file_name, board in dashboards(args.serving_namespace).items():
            stem = file_name.removesuffix(".json")
            k8s.core.v1.ConfigMap(
                f"{name}-dashboard-{stem}",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=f"{stem}-dashboard", namespace=ns, labels={**obj_labels, GRAFANA_DASHBOARD_LABEL: "1"}
                ),
                data={file_name: json.dumps(board, indent=2, sort_keys=True)},
                opts=child_opts(self, ctx, *deps),
            )

        if mon.receivers:
            self._receivers(name, args, obj_labels)

        self.grafana_url = f"http://grafana.{ns}.svc.cluster.local"
        self.prometheus_url = f"http://{_RELEASE}-prometheus.{ns}.svc.cluster.local:9090"
        self.pushgateway_url = f"http://pushgateway.{ns}.svc.cluster.local:{PUSHGATEWAY_PORT}"
        self.register_outputs(
            {
                "grafana_url": self.grafana_url,
                "prometheus_url": self.prometheus_url,
                "pushgateway_url": self.pushgateway_url,
            }
        )

    def _receivers(self, name: str, args: MonitoringArgs, obj_labels: dict[str, str]) -> None:
        ctx, mon, ns = args.context, args.monitoring, args.namespace
        secret = k8s.core.v1.Secret(
            f"{name}-receivers",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=_RECEIVERS_SECRET, namespace=ns, labels=obj_labels),
            type="Opaque",
            string_data={r.name: secret_value(args.receiver_urls[r.name]) for r in mon.receivers},
            opts=child_opts(self, ctx, *args.depends_on),
        )
        receivers: list[dict[str, Any]] = [{"name": "null"}]
        routes: list[dict[str, Any]] = []
        for r in mon.receivers:
            ref = {"name": _RECEIVERS_SECRET, "key": r.name}
            if r.kind == "webhook":
                receivers.append({"name": r.name, "webhookConfigs": [{"urlSecret": ref, "sendResolved": True}]})
            elif r.kind == "slack":
                receivers.append({"name": r.name, "slackConfigs": [{"apiURL": ref, "sendResolved": True}]})
            else:
                receivers.append({"name": r.name, "pagerdutyConfigs": [{"routingKey": ref, "sendResolved": True}]})
            route: dict[str, Any] = {"receiver": r.name, "continue": True}
            if r.severity != "all":
                route["matchers"] = [{"name": "severity", "value": r.severity, "matchType": "="}]
            routes.append(route)
        k8s.apiextensions.CustomResource(
            f"{name}-alertmanager-config",
            api_version="monitoring.coreos.com/v1alpha1",
            kind="AlertmanagerConfig",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name="pulumi-mlops", namespace=ns, labels={**obj_labels, ALERTMANAGER_CONFIG_LABEL: "true"}
            ),
            spec={
                "route": {
                    "receiver": "null",
                    "groupBy": ["alertname", "endpoint"],
                    "groupWait": "30s",
                    "groupInterval": "5m",
                    "repeatInterval": "4h",
                    "routes": routes,
                },
                "receivers": receivers,
            },
            opts=child_opts(self, ctx, self.release, secret, *args.depends_on),
        )

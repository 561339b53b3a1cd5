"""Namespaces, service accounts, network isolation and training quotas.

One namespace per concern (serving, training, platform, monitoring). Every namespace starts
from default-deny in both directions; the allows below open exactly the paths the platform's
services use: DNS, the cloud's metadata endpoints, HTTPS to object storage and cloud APIs,
and the in-cluster ports between concerns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

import pulumi
import pulumi_kubernetes as k8s
from pulumi_mlops.runtime.config import ResourceSpec

from pulumi_mlops.spec import PlatformSpec

from .context import WORKLOAD_ROLES, ClusterContext
from .workload import GPU_RESOURCE, child_opts, labels

__all__ = [
    "CONCERNS",
    "FEAST_PORT",
    "MLFLOW_PORT",
    "PUSHGATEWAY_PORT",
    "RDZV_PORT",
    "SERVICE_ACCOUNT_CONCERN",
    "Namespaces",
    "NamespacesArgs",
    "namespace_name",
    "service_account_subject",
    "training_quota",
]

CONCERNS = ("serving", "training", "platform", "monitoring")
"""One namespace each: model servers; training and drift jobs; MLflow and Feast; Prometheus stack."""

SERVICE_ACCOUNT_CONCERN: Mapping[str, str] = {
    "server": "serving",
    "trainer": "training",
    "drift": "training",
    "mlflow": "platform",
    "feast": "platform",
}
"""Namespace (by concern) of each workload role's ServiceAccount; the cloud identity binds to this pair."""

MLFLOW_PORT = 5000
"""MLflow tracking server port."""
FEAST_PORT = 6566
"""Feast feature server port."""
PUSHGATEWAY_PORT = 9091
"""Prometheus Pushgateway port."""
RDZV_PORT = 29500
"""torchrun c10d rendezvous port."""

_POD_SECURITY = {
    "serving": "restricted",
    "training": "restricted",
    "platform": "restricted",
    "monitoring": "privileged",
}
"""Pod Security Admission level per concern (node-exporter in monitoring needs host access)."""

_METADATA_ENDPOINTS = {
    "aws": [("169.254.169.254/32", 80), ("169.254.170.23/32", 80)],
    "gcp": [("169.254.169.254/32", 80), ("169.254.169.252/32", 988)],
}
"""Instance metadata and workload-identity endpoints per cloud (IMDS, EKS Pod Identity agent, GKE metadata server)."""


_GATEWAY_FLEET_CIDRS = {"gcp": ["35.191.0.0/16", "130.211.0.0/22"]}
"""Source ranges a cloud's load balancers probe backends from: Google Cloud's health-check ranges (the firewall
rules of every Application Load Balancer must admit them, cloud.google.com/load-balancing/docs/firewall-rules).
On AWS the gateway's proxies run in the cluster and reach serving pods from the VPC range."""


def namespace_name(spec: PlatformSpec, concern: str) -> str:
    """``<platform name>-<concern>``, e.g. ``mlops-serving``."""
    if concern not in CONCERNS:
        raise ValueError(f"unknown concern {concern!r}: expected one of {CONCERNS}")
    return f"{spec.name}-{concern}"


def service_account_subject(spec: PlatformSpec, role: str) -> tuple[str, str]:
    """``(namespace, name)`` of a workload role's ServiceAccount: what IRSA / Pod Identity / GKE WI bind to."""
    if role not in WORKLOAD_ROLES:
        raise ValueError(f"unknown workload role {role!r}: expected one of {WORKLOAD_ROLES}")
    return namespace_name(spec, SERVICE_ACCOUNT_CONCERN[role]), role


def _cores(q: str) -> Decimal:
    return Decimal(q[:-1]) / 1000 if q.endswith("m") else Decimal(q)


def _mebibytes(q: str) -> int:
    units = {"Ki": Decimal(1) / 1024, "Mi": Decimal(1), "Gi": Decimal(1024), "Ti": Decimal(1024 * 1024)}
    return int(Decimal(q[:-2]) * units[q[-2:]])


def training_quota(spec: PlatformSpec, drift_resources: ResourceSpec) -> dict[str, str]:
    """ResourceQuota of the training namespace: two concurrent runs of every training job
    (schedule plus a drift-triggered retraining) with all their pods (nodes, or search workers), one run of
    every batch job with all its shards, and one drift job per endpoint."""
    cpu, mem, gpus = Decimal(0), 0, 0
    for job in spec.training:
        pods = 2 * (job.nodes if job.nodes > 1 else job.training.search_workers)
        cpu += pods * _cores(job.resources.cpu)
        mem += pods * _mebibytes(job.resources.memory)
        gpus += pods * job.resources.gpus
    for batch in spec.batch_jobs:
        cpu += batch.shards * _cores(batch.resources.cpu)
        mem += batch.shards * _mebibytes(batch.resources.memory)
        gpus += batch.shards * batch.resources.gpus
    n = max(1, len(spec.endpoints))
    cpu += n * _cores(drift_resources.cpu)
    mem += n * _mebibytes(drift_resources.memory)
    cpu_text = str(int(cpu)) if cpu == cpu.to_integral_value() else f"{int(cpu * 1000)}m"
    return {
        "requests.cpu": cpu_text,
        "requests.memory": f"{mem}Mi",
        "limits.cpu": str(int(cpu * 2)) if cpu * 2 == (cpu * 2).to_integral_value() else f"{int(cpu * 2000)}m",
        "limits.memory": f"{mem}Mi",
        f"requests.{GPU_RESOURCE}": str(min(gpus, spec.max_gpus)),
        "count/jobs.batch": str(max(10, 4 * (len(spec.training) + n))),
    }


@dataclass
class NamespacesArgs:
    """Inputs of :class:`Namespaces`."""

    spec: PlatformSpec
    """The environment spec (names, labels, endpoints' ports, training and batch jobs for the quota)."""
    context: ClusterContext
    """The cluster (provider, cloud, service-account annotations, gateway source ranges)."""
    drift_resources: ResourceSpec
    """Per-pod resources of a drift job (counted in the training quota)."""


def _peer_ns(name: str) -> k8s.networking.v1.NetworkPolicyPeerArgs:
    return k8s.networking.v1.NetworkPolicyPeerArgs(
        namespace_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"kubernetes.io/metadata.name": name})
    )


def _peer_cidr(cidr: str) -> k8s.networking.v1.NetworkPolicyPeerArgs:
    return k8s.networking.v1.NetworkPolicyPeerArgs(ip_block=k8s.networking.v1.IPBlockArgs(cidr=cidr))


def _tcp(*ports: pulumi.Input[int]) -> list[k8s.networking.v1.NetworkPolicyPortArgs]:
    return [k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=p) for p in ports]


class Namespaces(pulumi.ComponentResource):
    """The four namespaces with their ServiceAccounts, NetworkPolicies and (training) quota.

    Outputs: ``names`` (concern -> namespace name), ``service_accounts`` (role -> name),
    ``resources`` (concern -> Namespace, for ``depends_on``).
    """

    names: dict[str, str]
    service_accounts: dict[str, str]
    resources: dict[str, k8s.core.v1.Namespace]

    def __init__(self, name: str, args: NamespacesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pulumi-mlops:k8s:Namespaces", name, None, opts)
        spec, ctx = args.spec, args.context
        self._spec, self._ctx = spec, ctx
        self.names = {c: namespace_name(spec, c) for c in CONCERNS}
        self.resources = {}
        for concern, ns_name in self.names.items():
            self.resources[concern] = k8s.core.v1.Namespace(
                f"{name}-{concern}",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=ns_name,
                    labels={
                        **labels(ns_name, spec.environment, concern, spec.labels),
                        "pod-security.kubernetes.io/enforce": _POD_SECURITY[concern],
                        "pod-security.kubernetes.io/warn": "restricted",
                    },
                ),
                opts=child_opts(self, ctx),
            )

        self.service_accounts = {}
        for role in WORKLOAD_ROLES:
            ns, sa_name = service_account_subject(spec, role)
            concern = SERVICE_ACCOUNT_CONCERN[role]
            k8s.core.v1.ServiceAccount(
                f"{name}-sa-{role}",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=sa_name,
                    namespace=ns,
                    labels=labels(role, spec.environment, concern, spec.labels),
                    annotations=dict(ctx.service_account_annotations.get(role, {})) or None,
                ),
                automount_service_account_token=False,
                opts=child_opts(self, ctx, self.resources[concern]),
            )
            self.service_accounts[role] = sa_name

        for concern in CONCERNS:
            self._policy(name, concern, "default-deny", {}, ["Ingress", "Egress"])
            self._policy(
                name,
                concern,
                "allow-dns",
                {},
                ["Egress"],
                egress=[
                    k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                        to=[_peer_ns("kube-system")],
                        ports=[
                            k8s.networking.v1.NetworkPolicyPortArgs(protocol="UDP", port=53),
                            k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=53),
                        ],
                    )
                ],
            )
        self._serving_policies(name)
        self._training_policies(name)
        self._platform_policies(name)
        self._monitoring_policies(name)

        training_ns = self.names["training"]
        k8s.core.v1.ResourceQuota(
            f"{name}-training-quota",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name="training",
                namespace=training_ns,
                labels=labels("training", spec.environment, "training", spec.labels),
            ),
            spec=k8s.core.v1.ResourceQuotaSpecArgs(hard=training_quota(spec, args.drift_resources)),
            opts=child_opts(self, ctx, self.resources["training"]),
        )
        k8s.core.v1.LimitRange(
            f"{name}-training-limits",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name="training",
                namespace=training_ns,
                labels=labels("training", spec.environment, "training", spec.labels),
            ),
            spec=k8s.core.v1.LimitRangeSpecArgs(
                limits=[
                    k8s.core.v1.LimitRangeItemArgs(
                        type="Container",
                        default_request={"cpu": "500m", "memory": "1Gi"},
                        default={"cpu": "1", "memory": "1Gi"},
                        max_limit_request_ratio={"cpu": "2", "memory": "1"},
                    )
                ]
            ),
            opts=child_opts(self, ctx, self.resources["training"]),
        )

        self.register_outputs({"names": self.names, "service_accounts": self.service_accounts})

    def _policy(
        self,
        name: str,
        concern: str,
        policy: str,
        pod_labels: Mapping[str, str],
        types: Sequence[str],
        *,
        ingress: Sequence[k8s.networking.v1.NetworkPolicyIngressRuleArgs] | None = None,
        egress: Sequence[k8s.networking.v1.NetworkPolicyEgressRuleArgs] | None = None,
    ) -> k8s.networking.v1.NetworkPolicy:
        spec = self._spec
        return k8s.networking.v1.NetworkPolicy(
            f"{name}-{concern}-{policy}",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=policy,
                namespace=self.names[concern],
                labels=labels(policy, spec.environment, concern, spec.labels),
            ),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(pod_labels) or None),
                policy_types=list(types),
                ingress=list(ingress) if ingress is not None else None,
                egress=list(egress) if egress is not None else None,
            ),
            opts=child_opts(self, self._ctx, self.resources[concern]),
        )

    def _cloud_egress(self) -> list[k8s.networking.v1.NetworkPolicyEgressRuleArgs]:
        """HTTPS anywhere (object storage, STS/IAM, registry) and the cloud's metadata endpoints."""
        rules = [k8s.networking.v1.NetworkPolicyEgressRuleArgs(to=[_peer_cidr("0.0.0.0/0")], ports=_tcp(443))]
        for cidr, port in _METADATA_ENDPOINTS.get(self._ctx.cloud, _METADATA_ENDPOINTS["aws"]):
            rules.append(k8s.networking.v1.NetworkPolicyEgressRuleArgs(to=[_peer_cidr(cidr)], ports=_tcp(port)))
        return rules

    def _to_platform(self) -> k8s.networking.v1.NetworkPolicyEgressRuleArgs:
        return k8s.networking.v1.NetworkPolicyEgressRuleArgs(
            to=[_peer_ns(self.names["platform"])], ports=_tcp(MLFLOW_PORT, FEAST_PORT)
        )

    def _serving_policies(self, name: str) -> None:
        spec, ctx = self._spec, self._ctx
        ports = sorted({e.serving.port for e in spec.endpoints}) or [8080]
        sources = [*(ctx.gateway_source_cidrs or [spec.network.cidr]), *_GATEWAY_FLEET_CIDRS.get(ctx.cloud, [])]
        self._policy(
            name,
            "serving",
            "allow-gateway-and-monitoring",
            {"app.kubernetes.io/component": "serving"},
            ["Ingress"],
            ingress=[
                k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                    from_=[
                        _peer_ns(self.names["monitoring"]),
                        *(_peer_ns(n) for n in ctx.gateway_namespaces),
                        *(_peer_cidr(c) for c in sources),
                    ],
                    ports=_tcp(*ports),
                )
            ],
        )
        self._policy(
            name, "serving", "allow-egress", {}, ["Egress"], egress=[self._to_platform(), *self._cloud_egress()]
        )

    def _training_policies(self, name: str) -> None:
        same = k8s.networking.v1.NetworkPolicyPeerArgs(pod_selector=k8s.meta.v1.LabelSelectorArgs())
        self._policy(
            name,
            "training",
            "allow-within-namespace",
            {},
            ["Ingress", "Egress"],
            ingress=[k8s.networking.v1.NetworkPolicyIngressRuleArgs(from_=[same])],
            egress=[k8s.networking.v1.NetworkPolicyEgressRuleArgs(to=[same])],
        )
        self._policy(
            name,
            "training",
            "allow-egress",
            {},
            ["Egress"],
            egress=[
                self._to_platform(),
                k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                    to=[_peer_ns(self.names["monitoring"])], ports=_tcp(PUSHGATEWAY_PORT)
                ),
                *self._search_egress(),
                *self._cloud_egress(),
            ],
        )

    def _search_egress(self) -> list[k8s.networking.v1.NetworkPolicyEgressRuleArgs]:
        """The tracking PostgreSQL's port, for the pods of a parallel search (they share the study there)."""
        db = self._ctx.tracking_db
        if db is None or not any(job.training.search_workers > 1 for job in self._spec.training):
            return []
        return [k8s.networking.v1.NetworkPolicyEgressRuleArgs(to=[_peer_cidr("0.0.0.0/0")], ports=_tcp(db.port))]

    def _platform_policies(self, name: str) -> None:
        ctx = self._ctx
        clients = [_peer_ns(self.names[c]) for c in ("serving", "training", "platform")]
        self._policy(
            name,
            "platform",
            "allow-mlflow-clients",
            {"app.kubernetes.io/component": "mlflow"},
            ["Ingress"],
            ingress=[
                k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                    from_=[*clients, _peer_ns(self.names["monitoring"])], ports=_tcp(MLFLOW_PORT)
                )
            ],
        )
        self._policy(
            name,
            "platform",
            "allow-feast-clients",
            {"app.kubernetes.io/component": "feast"},
            ["Ingress"],
            ingress=[k8s.networking.v1.NetworkPolicyIngressRuleArgs(from_=clients, ports=_tcp(FEAST_PORT))],
        )
        db_port: pulumi.Input[int] = ctx.tracking_db.port if ctx.tracking_db else 5432
        redis_port: pulumi.Input[int] = ctx.redis.port if ctx.redis else 6379
        self._policy(
            name,
            "platform",
            "allow-egress",
            {},
            ["Egress"],
            egress=[
                self._to_platform(),
                k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                    to=[_peer_cidr("0.0.0.0/0")], ports=_tcp(db_port, redis_port)
                ),
                k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                    to=[_peer_ns(self.names["monitoring"])], ports=_tcp(PUSHGATEWAY_PORT)
                ),
                *self._cloud_egress(),
            ],
        )

    def _monitoring_policies(self, name: str) -> None:
        same = k8s.networking.v1.NetworkPolicyPeerArgs(pod_selector=k8s.meta.v1.LabelSelectorArgs())
        self._policy(
            name,
            "monitoring",
            "allow-ingress",
            {},
            ["Ingress"],
            ingress=[
                k8s.networking.v1.NetworkPolicyIngressRuleArgs(from_=[same]),
                k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                    from_=[_peer_ns(self.names[c]) for c in ("training", "platform")], ports=_tcp(PUSHGATEWAY_PORT)
                ),
                # Admission webhook of the Prometheus operator, called by the API server.
                k8s.networking.v1.NetworkPolicyIngressRuleArgs(ports=_tcp(10250)),
            ],
        )
        # Prometheus scrapes every namespace and node, Alertmanager calls external receivers,
        # the operator and kube-state-metrics talk to the API server.
        self._policy(
            name, "monitoring", "allow-egress", {}, ["Egress"], egress=[k8s.networking.v1.NetworkPolicyEgressRuleArgs()]
        )

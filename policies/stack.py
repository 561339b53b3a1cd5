"""Whole-stack rules: serving is monitored and alerted on, prod serving is highly available, buckets are complete."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pulumi_policy import Policy, PolicyResource, ReportViolation, StackValidationArgs

from ._base import as_list, get, iter_dicts, profile_of, stack_policy
from .kubernetes import DEPLOYMENT
from .storage import S3_BUCKET, S3_POLICY, S3_PUBLIC_ACCESS_BLOCK, S3_SSE, S3_VERSIONING

SERVICE = "kubernetes:core/v1:Service"
SERVICE_MONITOR = "kubernetes:monitoring.coreos.com/v1:ServiceMonitor"
POD_MONITOR = "kubernetes:monitoring.coreos.com/v1:PodMonitor"
PROMETHEUS_RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
ECR_REPOSITORY = "aws:ecr/repository:Repository"
ECR_LIFECYCLE = "aws:ecr/lifecyclePolicy:LifecyclePolicy"

RESOURCE_TYPES: tuple[str, ...] = (
    DEPLOYMENT,
    SERVICE,
    SERVICE_MONITOR,
    POD_MONITOR,
    PROMETHEUS_RULE,
    PDB,
    HPA,
    S3_BUCKET,
    S3_SSE,
    S3_VERSIONING,
    S3_PUBLIC_ACCESS_BLOCK,
    S3_POLICY,
    ECR_REPOSITORY,
    ECR_LIFECYCLE,
)
"""Every resource type a policy of this module inspects."""

POLICIES: list[Policy] = []

ENDPOINT_LABEL = "pulumi-mlops.io/endpoint"
"""Label every serving Deployment carries (value: the endpoint name)."""
COMPONENT_LABEL = "app.kubernetes.io/component"
SERVING_COMPONENTS = frozenset({"serving", "server", "model-server", "inference"})


def _map(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, Mapping) else {}


def _subset(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def _ns(res: PolicyResource) -> str:
    return str(get(res.props, "metadata.namespace", "default"))


def _name(res: PolicyResource) -> str:
    return str(get(res.props, "metadata.name", res.name))


def _pod_labels(res: PolicyResource) -> dict[str, str]:
    return _map(get(res.props, "spec.template.metadata.labels"))


def serving_deployments(resources: Iterable[PolicyResource]) -> list[PolicyResource]:
    """Deployments that serve a model: labelled with ``pulumi-mlops.io/endpoint`` or component ``serving``."""
    found = []
    for res in resources:
        if res.resource_type != DEPLOYMENT:
            continue
        labels = {**_pod_labels(res), **_map(get(res.props, "metadata.labels"))}
        if ENDPOINT_LABEL in labels or labels.get(COMPONENT_LABEL) in SERVING_COMPONENTS:
            found.append(res)
    return found


def _identifiers(res: PolicyResource) -> set[str]:
    labels = {**_pod_labels(res), **_map(get(res.props, "metadata.labels"))}
    ids = {_name(res), res.name}
    if labels.get(ENDPOINT_LABEL):
        ids.add(labels[ENDPOINT_LABEL])
    return {i for i in ids if i}


def _of_type(resources: Iterable[PolicyResource], *types: str) -> list[PolicyResource]:
    return [r for r in resources if r.resource_type in types]


def _monitor_covers(monitor: PolicyResource, deployment: PolicyResource, services: list[PolicyResource]) -> bool:
    ns = _ns(deployment)
    selector_ns = get(monitor.props, "spec.namespaceSelector")
    if get(selector_ns, "any") is True:
        pass
    elif selector_ns and as_list(get(selector_ns, "matchNames")):
        if ns not in [str(n) for n in as_list(get(selector_ns, "matchNames"))]:
            return False
    elif _ns(monitor) != ns:
        return False
    selector = _map(get(monitor.props, "spec.selector.matchLabels"))
    pods = _pod_labels(deployment)
    if monitor.resource_type == POD_MONITOR:
        return _subset(selector, pods)
    for svc in services:
        selects_pods = _ns(svc) == ns and _subset(_map(get(svc.props, "spec.selector")), pods)
        if selects_pods and _subset(selector, _map(get(svc.props, "metadata.labels"))):
            return True
    return _subset(selector, {**pods, **_map(get(deployment.props, "metadata.labels"))})


@stack_policy(
    "serving-has-servicemonitor",
    "Every serving Deployment is scraped by a ServiceMonitor (or PodMonitor).",
    (DEPLOYMENT, SERVICE, SERVICE_MONITOR, POD_MONITOR),
    registry=POLICIES,
)
def _servicemonitor(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    monitors = _of_type(args.resources, SERVICE_MONITOR, POD_MONITOR)
    services = _of_type(args.resources, SERVICE)
    for dep in serving_deployments(args.resources):
        if not any(_monitor_covers(m, dep, services) for m in monitors):
            report_violation(
                f"serving Deployment {_name(dep)!r} is not selected by any ServiceMonitor: add one for its Service",
                dep.urn,
            )


def _rule_text(rule: PolicyResource) -> str:
    return json.dumps(_plain(get(rule.props, "spec")), sort_keys=True)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [_plain(v) for v in as_list(value)]
    return value


@stack_policy(
    "serving-has-alert-rules",
    "Every serving Deployment has Prometheus alert rules that name it.",
    (DEPLOYMENT, PROMETHEUS_RULE),
    registry=POLICIES,
)
def _alerts(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    texts = []
    for rule in _of_type(args.resources, PROMETHEUS_RULE):
        if any(
            get(r, "alert") for g in iter_dicts(get(rule.props, "spec.groups")) for r in iter_dicts(get(g, "rules"))
        ):
            texts.append(_rule_text(rule))
    for dep in serving_deployments(args.resources):
        ids = _identifiers(dep)
        if not any(re.search(rf"(?<![\w-]){re.escape(i)}(?![\w-])", t) for i in ids for t in texts):
            report_violation(
                f"serving Deployment {_name(dep)!r} has no alert rule naming it ({', '.join(sorted(ids))}): "
                "add a PrometheusRule for its latency and error rate",
                dep.urn,
            )


TRACK_LABEL = "pulumi-mlops.io/track"
"""Label naming a serving pod's track (stable, canary or shadow)."""


def _min_replicas(dep: PolicyResource, hpas: list[PolicyResource]) -> tuple[int, str]:
    for hpa in hpas:
        target = get(hpa.props, "spec.scaleTargetRef")
        if get(target, "kind") == "Deployment" and str(get(target, "name")) == _name(dep) and _ns(hpa) == _ns(dep):
            return int(get(hpa.props, "spec.minReplicas", 1)), "HPA minReplicas"
    return int(get(dep.props, "spec.replicas", 1)), "spec.replicas"


@stack_policy(
    "prod-serving-replicas",
    "Serving Deployments that answer live traffic in prod run at least 2 replicas (HPA minReplicas or spec.replicas).",
    (DEPLOYMENT, HPA),
    config=("profile",),
    registry=POLICIES,
)
def _replicas(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    if profile_of(args) != "prod":
        return
    hpas = _of_type(args.resources, HPA)
    for dep in serving_deployments(args.resources):
        if _map(get(dep.props, "metadata.labels")).get(TRACK_LABEL) == "shadow":
            continue  # a shadow track answers a mirrored copy; its answers are discarded
        count, source = _min_replicas(dep, hpas)
        if count < 2:
            report_violation(f"serving Deployment {_name(dep)!r} has {source} {count} in prod: use at least 2", dep.urn)


@stack_policy(
    "prod-serving-pdb",
    "Serving Deployments in prod are covered by a PodDisruptionBudget.",
    (DEPLOYMENT, PDB),
    config=("profile",),
    registry=POLICIES,
)
def _pdb(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    if profile_of(args) != "prod":
        return
    pdbs = _of_type(args.resources, PDB)
    for dep in serving_deployments(args.resources):
        pods = _pod_labels(dep)
        covered = any(
            _ns(p) == _ns(dep) and _subset(_map(get(p.props, "spec.selector.matchLabels")), pods) for p in pdbs
        )
        if not covered:
            report_violation(
                f"serving Deployment {_name(dep)!r} has no PodDisruptionBudget in prod: add one (minAvailable 1)",
                dep.urn,
            )


def _attached(companion: PolicyResource, owner: PolicyResource, key: str = "bucket") -> bool:
    if companion.parent is not None and companion.parent.urn == owner.urn:
        return True
    return any(d.urn == owner.urn for d in companion.property_dependencies.get(key, []))


@stack_policy(
    "s3-bucket-complete",
    "Every S3 bucket has its encryption, versioning, public access block and TLS-only policy resources.",
    (S3_BUCKET, S3_SSE, S3_VERSIONING, S3_PUBLIC_ACCESS_BLOCK, S3_POLICY),
    registry=POLICIES,
)
def _bucket_complete(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    needed = {
        S3_SSE: "BucketServerSideEncryptionConfiguration",
        S3_VERSIONING: "BucketVersioning",
        S3_PUBLIC_ACCESS_BLOCK: "BucketPublicAccessBlock",
        S3_POLICY: "BucketPolicy",
    }
    companions = _of_type(args.resources, *needed)
    for bucket in _of_type(args.resources, S3_BUCKET):
        have = {c.resource_type for c in companions if _attached(c, bucket)}
        missing = [kind for t, kind in needed.items() if t not in have]
        if missing:
            report_violation(f"bucket {bucket.name!r} has no {', '.join(missing)}", bucket.urn)


@stack_policy(
    "ecr-lifecycle-policy",
    "Every ECR repository has a lifecycle policy that expires untagged images.",
    (ECR_REPOSITORY, ECR_LIFECYCLE),
    registry=POLICIES,
)
def _ecr_lifecycle(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    policies = _of_type(args.resources, ECR_LIFECYCLE)
    for repo in _of_type(args.resources, ECR_REPOSITORY):
        if not any(_attached(p, repo, "repository") for p in policies):
            report_violation(f"repository {repo.name!r} has no LifecyclePolicy: expire untagged images", repo.urn)

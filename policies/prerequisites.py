"""Deploy readiness, prerequisites of what is declared: every object finds the cluster feature it relies on.

- A HorizontalPodAutoscaler on resource metrics needs the metrics API: metrics-server (EKS add-on or
  chart), which the HPA waits for; GKE serves the API itself. Without it the HPA never scales.
- A PersistentVolumeClaim (declared, a StatefulSet's claim template, or rendered by a chart from its
  values) that names no StorageClass needs a default one (EKS 1.30+ has none); a named class must exist,
  and an EBS CSI class needs the EBS CSI driver. A statically provisioned volume (``storageClassName: ""`` on
  claim and volume, the claim naming it in ``volumeName``) needs no class: the named PersistentVolume must be
  the stack's, of class ``""``, and reserved (``claimRef``) for that claim or for none; a claim naming a volume
  without ``storageClassName`` gets the default class and never binds to it. Otherwise the claim stays Pending
  forever.
- NetworkPolicy objects need a CNI that enforces them (the VPC CNI network policy agent, GKE Dataplane V2
  or GKE network policy); otherwise the API server accepts them and nothing is isolated.
- Gateway API objects need the Gateway API CRDs, installed before them; a Gateway needs a controller for
  its class; that controller must implement every HTTPRoute feature used (weights, mirroring, rewrites,
  header modifiers).
- Namespaced objects a Helm release renders (the release's own namespace, ``namespaceOverride``,
  ``serviceMonitor.namespace`` and chart defaults of it) land in a namespace that exists first.
"""

from __future__ import annotations

from collections.abc import Mapping

from pulumi_policy import Policy, PolicyResource, ReportViolation, StackValidationArgs

from ._base import get, is_true, stack_policy
from ._graph import HELM_RELEASE, STATEFUL_SET, StackGraph
from ._prerequisite_lookups import (
    CRD,
    EKS_ADDON,
    EKS_CLUSTER,
    GATEWAY,
    GATEWAY_CLASS,
    GKE_CLUSTER,
    GRPC_ROUTE,
    HPA,
    HTTP_ROUTE,
    NAMESPACE,
    NETWORK_POLICY,
    NO_CLASS,
    PV,
    PVC,
    STORAGE_CLASS,
    addons,
    claims,
    class_features,
    default_classes,
    enforcers,
    gke_clusters,
    label,
    name_of,
    named_classes,
    namespace_of,
    namespace_sources,
    parents,
    rendered_namespaces,
    resource_metrics,
    route_features,
)
from ._prerequisite_tables import BUILTIN_NAMESPACES, EBS_CSI_PROVISIONERS

RESOURCE_TYPES: tuple[str, ...] = (
    HPA,
    PVC,
    PV,
    NAMESPACE,
    STORAGE_CLASS,
    STATEFUL_SET,
    NETWORK_POLICY,
    CRD,
    GATEWAY_CLASS,
    GATEWAY,
    HTTP_ROUTE,
    GRPC_ROUTE,
    HELM_RELEASE,
    EKS_CLUSTER,
    EKS_ADDON,
    GKE_CLUSTER,
)
"""Every resource type a policy of this module inspects."""

POLICIES: list[Policy] = []


# --- 1. metrics API ---------------------------------------------------------------------------


@stack_policy(
    "hpa-metrics-api-installed",
    "Every HorizontalPodAutoscaler on resource metrics has the metrics API (metrics-server as EKS add-on or Helm "
    "chart, or GKE's own) and waits for the metrics-server install.",
    (HPA, EKS_ADDON, HELM_RELEASE, GKE_CLUSTER),
    registry=POLICIES,
)
def _metrics_api(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    graph = StackGraph(args.resources)
    hpas = [h for h in graph.of_type(HPA) if resource_metrics(h)]
    if not hpas or gke_clusters(graph):
        return  # GKE runs metrics-server in kube-system itself
    servers = [*addons(graph, "metrics-server"), *graph.helm_releases("metrics-server")]
    for hpa in hpas:
        if not servers:
            report_violation(
                f"{label(hpa)} scales on CPU/memory, which it reads from the metrics API (metrics.k8s.io), and "
                "nothing in the stack installs metrics-server: add the EKS add-on 'metrics-server' (or a Helm "
                "release of chart metrics-server), or the HPA never scales",
                hpa.urn,
            )
        elif not any(graph.depends_on(hpa, s) for s in servers):
            names = ", ".join(sorted(s.name for s in servers))
            report_violation(
                f"{label(hpa)} does not wait for metrics-server ({names}): add it to the HPA's depends_on "
                "(ClusterContext.depends_on) so the autoscaler never starts without metrics",
                hpa.urn,
            )


# --- 2. storage classes -----------------------------------------------------------------------


@stack_policy(
    "pvc-storage-class-available",
    "Every PersistentVolumeClaim (declared, a StatefulSet claim template, or rendered by kube-prometheus-stack, "
    "Grafana or the Pushgateway from values) without storageClassName has a default StorageClass, a named class "
    'exists, EBS classes have the EBS CSI driver, and a claim of class "" binds a PersistentVolume of the stack of '
    'class "" reserved for it or for none.',
    (PVC, PV, STATEFUL_SET, STORAGE_CLASS, HELM_RELEASE, EKS_ADDON, EKS_CLUSTER, GKE_CLUSTER),
    registry=POLICIES,
)
def _storage_classes(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    graph = StackGraph(args.resources)
    found = list(claims(graph))
    if not found:
        return
    defaults, classes = default_classes(graph), named_classes(graph)
    ebs_driver = bool(addons(graph, "aws-ebs-csi-driver") or graph.helm_releases("aws-ebs-csi-driver"))
    for owner, where, value in found:
        claim = f"{label(owner)} claims a volume ({where})"
        volume_name = get(owner.props, "spec.volumeName") if owner.resource_type == PVC else None
        if volume_name and (value is NO_CLASS or value == ""):
            given = None if value is NO_CLASS else ""
            problem = _static_binding(graph, owner, str(volume_name), given, defaults[0] if defaults else "")
            if problem:
                report_violation(f"{claim} of PersistentVolume {volume_name!r}, {problem}", owner.urn)
            continue
        if value is NO_CLASS:
            if not defaults:
                report_violation(
                    f"{claim} with no storageClassName and the cluster has no default StorageClass (EKS 1.30+ "
                    "marks none): create a StorageClass annotated storageclass.kubernetes.io/is-default-class: "
                    "'true' (encrypted gp3), or name a class, or the claim stays Pending",
                    owner.urn,
                )
                continue
            value = defaults[0]
        elif value == "":
            if not [pv for pv in graph.of_type(PV) if _volume_class(pv) == "" and _reserved_for(pv, owner)]:
                report_violation(
                    f'{claim} with storageClassName "" (no dynamic provisioning) and the stack creates no '
                    'PersistentVolume of class "" it can bind: name the volume (volumeName) the stack creates for '
                    "it, or name a StorageClass or drop the field to use the default",
                    owner.urn,
                )
            continue
        name = str(value)
        if name not in classes:
            report_violation(
                f"{claim} of StorageClass {name!r}, which neither the stack nor the cluster provides "
                f"(known: {', '.join(sorted(classes)) or 'none'}): create it or use one of those",
                owner.urn,
            )
        elif classes[name] in EBS_CSI_PROVISIONERS and not ebs_driver:
            report_violation(
                f"{claim} of StorageClass {name!r} (provisioner {classes[name]}) and the EBS CSI driver is not "
                "installed: add the EKS add-on 'aws-ebs-csi-driver' with its IAM role",
                owner.urn,
            )


def _volume_class(pv: PolicyResource) -> str:
    return str(get(pv.props, "spec.storageClassName", "") or "")


def _reserved_for(pv: PolicyResource, claim: PolicyResource) -> bool:
    """The volume's ``claimRef`` names ``claim``, or it has none (any claim of its class may bind it)."""
    ref = get(pv.props, "spec.claimRef")
    if not isinstance(ref, Mapping) or not ref:
        return True
    return (str(get(ref, "namespace", "")), str(get(ref, "name", ""))) == (namespace_of(claim), name_of(claim))


def _static_binding(
    graph: StackGraph, claim: PolicyResource, volume_name: str, given: str | None, default: str
) -> str | None:
    """Why a claim of class ``given`` (``None``: no storageClassName, so the cluster's ``default`` applies) naming
    ``volume_name`` never binds it (``None`` when it does)."""
    volumes = [pv for pv in graph.of_type(PV) if name_of(pv) == volume_name]
    if not volumes:
        return (
            "which the stack does not create: create the PersistentVolume (static provisioning) or drop "
            "volumeName to provision dynamically"
        )
    pv = volumes[0]
    if given is None and _volume_class(pv) != default:
        return (
            f"without storageClassName, so the API server gives it the default class {default!r} and it never "
            f'binds the volume of class {_volume_class(pv)!r}: set storageClassName: "" on the claim (and the volume)'
        )
    if given == "" and _volume_class(pv) != "":
        return (
            f'which has storageClassName {_volume_class(pv)!r} while the claim has "": a claim binds only a '
            'volume of its own class: set storageClassName: "" on the volume'
        )
    if not _reserved_for(pv, claim):
        ref = get(pv.props, "spec.claimRef")
        return (
            f"which its claimRef reserves for {get(ref, 'namespace', '')}/{get(ref, 'name', '')}: point the claimRef "
            f"at {namespace_of(claim)}/{name_of(claim)}"
        )
    return None


# --- 3. network policy enforcement ------------------------------------------------------------


@stack_policy(
    "network-policy-enforced",
    'NetworkPolicy objects have a CNI that enforces them: the VPC CNI add-on with enableNetworkPolicy "true", '
    "GKE Dataplane V2 or GKE network policy, or a Calico/Cilium release.",
    (NETWORK_POLICY, EKS_ADDON, GKE_CLUSTER, HELM_RELEASE),
    registry=POLICIES,
)
def _network_policy(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    graph = StackGraph(args.resources)
    policies = graph.of_type(NETWORK_POLICY)
    enforcing, failing = enforcers(graph)
    if not policies or enforcing:
        return
    example = ", ".join(sorted(f"{namespace_of(p)}/{name_of(p)}" for p in policies)[:3])
    what = f"{len(policies)} NetworkPolicy objects ({example} ...)"
    for res, fix in failing:
        report_violation(
            f"{label(res)} sets up the cluster's network plugin without NetworkPolicy enforcement, so the {what} "
            f"are accepted and isolate nothing: {fix}",
            res.urn,
        )
    if not failing:
        for policy in policies:
            report_violation(
                f"{label(policy)} is accepted but nothing in the stack makes the CNI enforce it: install the vpc-cni "
                'add-on with configuration_values {"enableNetworkPolicy": "true"} (GKE: Dataplane V2) or Calico',
                policy.urn,
            )


# --- 4. Gateway API ---------------------------------------------------------------------------


@stack_policy(
    "gateway-class-controller-installed",
    "Every Gateway's gatewayClassName is served by a controller in the stack (a GKE gke-l7-* class with the "
    "Gateway API enabled, or a GatewayClass whose controller the stack installs) and waits for class and controller.",
    (GATEWAY, GATEWAY_CLASS, HELM_RELEASE, GKE_CLUSTER),
    registry=POLICIES,
)
def _gateway_controller(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    graph = StackGraph(args.resources)
    for gw in graph.of_type(GATEWAY):
        class_name = str(get(gw.props, "spec.gatewayClassName", ""))
        features, needs, problem = class_features(graph, class_name)
        if features is None:
            report_violation(
                f"{label(gw)} uses gatewayClassName {class_name!r} and no controller will program it: {problem}; "
                "until then the Gateway gets no address",
                gw.urn,
            )
            continue
        for dep in needs:
            if not graph.depends_on(gw, dep):
                report_violation(
                    f"{label(gw)} does not wait for {label(dep)}, which its class {class_name!r} needs: add it "
                    "to the Gateway's depends_on (ClusterContext.gateway_depends_on)",
                    gw.urn,
                )


@stack_policy(
    "http-route-features-supported",
    "Every HTTPRoute uses only features (weighted backendRefs, RequestMirror, URLRewrite, header modifiers, "
    "redirects) that the controller of its parent Gateway's class implements.",
    (HTTP_ROUTE, GATEWAY, GATEWAY_CLASS, HELM_RELEASE, GKE_CLUSTER),
    registry=POLICIES,
)
def _route_support(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    graph = StackGraph(args.resources)
    for route in graph.of_type(HTTP_ROUTE):
        used = route_features(route)
        for gw in parents(graph, route):
            class_name = str(get(gw.props, "spec.gatewayClassName", ""))
            features, _, _ = class_features(graph, class_name)
            missing = sorted(used - features) if features is not None else []
            if missing:
                report_violation(
                    f"{label(route)} uses {', '.join(missing)}, which the controller of class {class_name!r} "
                    f"(Gateway {name_of(gw)!r}) does not implement, so the route is rejected or silently ignores "
                    "it: use a class whose controller does (Envoy Gateway implements all of them)",
                    route.urn,
                )


# --- 5. namespaces of rendered objects --------------------------------------------------------


@stack_policy(
    "helm-release-namespace-exists",
    "Every namespace a Helm release renders objects into (its namespace, namespaceOverride, serviceMonitor and "
    "prometheusRule namespaces including chart defaults) is built in, created by the release, or a Namespace "
    "it waits for.",
    (HELM_RELEASE, NAMESPACE),
    registry=POLICIES,
)
def _release_namespaces(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    graph = StackGraph(args.resources)
    sources = namespace_sources(graph)
    for release in graph.helm_releases():
        own = str(get(release.props, "namespace", "") or "default")
        targets: dict[str, list[str]] = {}
        for ns, where in rendered_namespaces(release):
            if where not in targets.setdefault(ns, []):
                targets[ns].append(where)
        for ns, wheres in sorted(targets.items()):
            if ns in BUILTIN_NAMESPACES or (ns == own and is_true(get(release.props, "createNamespace"))):
                continue
            where = ", ".join(wheres)
            makers = [s for s in sources.get(ns, []) if s.urn != release.urn]
            if not makers:
                report_violation(
                    f"{label(release)} renders objects into namespace {ns!r} ({where}) and nothing creates that "
                    f"namespace, so the install fails with 'namespaces \"{ns}\" not found': set "
                    f"{wheres[-1].split(' ')[0]} to a namespace of the stack, or create the Namespace and make the "
                    "release wait for it",
                    release.urn,
                )
            elif not any(graph.depends_on(release, m) for m in makers):
                names = ", ".join(sorted(m.name for m in makers))
                report_violation(
                    f"{label(release)} renders objects into namespace {ns!r} ({where}) but does not wait for "
                    f"{names}, which creates it: add it to the release's depends_on",
                    release.urn,
                )

"""Kubernetes exposure and secrets: no internet-wide load balancers, no NodePorts, no credentials in ConfigMaps."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from itertools import pairwise
from typing import Any

from pulumi_policy import Policy, ResourceValidationArgs

from ._base import as_list, get, resource_policy
from .network import is_open_cidr

__all__ = ["CONFIG_MAP", "ENVOY_PROXY", "INTERNAL_ANNOTATIONS", "POLICIES", "RESOURCE_TYPES", "SERVICE"]

Report = Callable[[str], None]

SERVICE = "kubernetes:core/v1:Service"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
ENVOY_PROXY = "kubernetes:gateway.envoyproxy.io/v1alpha1:EnvoyProxy"

RESOURCE_TYPES: tuple[str, ...] = (SERVICE, ENVOY_PROXY, CONFIG_MAP)
"""Every resource type a policy of this module checks."""

POLICIES: list[Policy] = []

INTERNAL_ANNOTATIONS: dict[str, str] = {
    "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal",
    "service.beta.kubernetes.io/aws-load-balancer-internal": "true",
    "networking.gke.io/load-balancer-type": "internal",
    "cloud.google.com/load-balancer-type": "internal",
}
"""Annotations (value compared case-insensitively) that make the cloud provision a load balancer reachable only
from inside the network: the AWS Load Balancer Controller's scheme and its legacy in-tree flag, GKE's current and
legacy internal type."""


def _load_balancer(props: Mapping[str, Any], resource_type: str) -> tuple[str, Mapping[str, Any]] | None:
    """``(label, service spec and annotations)`` of the load balancer a resource asks for, or ``None``."""
    if resource_type == SERVICE:
        if get(props, "spec.type") != "LoadBalancer":
            return None
        spec = get(props, "spec") or {}
        return "Service", {**spec, "annotations": get(props, "metadata.annotations") or {}}
    if get(props, "spec.provider.type") != "Kubernetes":
        return None
    service = get(props, "spec.provider.kubernetes.envoyService") or {}
    if get(service, "type", "LoadBalancer") != "LoadBalancer":  # Envoy Gateway's default type
        return None
    return "spec.provider.kubernetes.envoyService", service


def _internal(annotations: Mapping[str, Any]) -> bool:
    return any(str(annotations.get(k, "")).lower() == v for k, v in INTERNAL_ANNOTATIONS.items())


@resource_policy(
    "k8s-load-balancer-restricted",
    "LoadBalancer Services (and Envoy Gateway proxy Services) are annotated internal or list "
    "loadBalancerSourceRanges, none of them 0.0.0.0/0 or ::/0.",
    [SERVICE, ENVOY_PROXY],
    registry=POLICIES,
)
def _load_balancer_restricted(args: ResourceValidationArgs, report: Report) -> None:
    found = _load_balancer(args.props, args.resource_type)
    if found is None:
        return
    label, service = found
    if _internal(get(service, "annotations") or {}):
        return
    ranges = [str(r) for r in as_list(get(service, "loadBalancerSourceRanges"))]
    if not ranges:
        report(
            f"{label} is an internet-facing load balancer without loadBalancerSourceRanges: list the clients' CIDRs "
            "or annotate it internal"
        )
    for cidr in ranges:
        if is_open_cidr(cidr):
            report(f"{label} loadBalancerSourceRanges {cidr} admits the whole internet: list the clients' CIDRs")


@resource_policy(
    "k8s-no-nodeport-services",
    "Services are not of type NodePort (a port opened on every node).",
    [SERVICE],
    registry=POLICIES,
)
def _no_node_port(args: ResourceValidationArgs, report: Report) -> None:
    if get(args.props, "spec.type") == "NodePort":
        ports = [str(int(float(p))) for p in (get(q, "nodePort") for q in as_list(get(args.props, "spec.ports"))) if p]
        which = f" (nodePort {', '.join(ports)})" if ports else ""
        report(f"spec.type is NodePort{which}: expose it through the Gateway or a ClusterIP Service")


CREDENTIAL_WORDS = frozenset(
    {"password", "passwd", "pwd", "secret", "token", "credential", "credentials", "apikey", "privatekey", "passphrase"}
)
CREDENTIAL_PAIRS = frozenset({("api", "key"), ("access", "key"), ("private", "key"), ("secret", "key")})
REFERENCE_SUFFIXES = frozenset(
    {"name", "names", "ref", "file", "path", "arn", "id", "url", "uri", "env", "header", "type", "dir", "mount"}
)
"""Last words of keys that name where a credential is (``token_path``, ``secret_name``), not the credential."""
AWS_ACCESS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")
PEM_PRIVATE_KEY = re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")


def key_words(key: str) -> list[str]:
    """``"awsSecretAccessKey"`` -> ``["aws", "secret", "access", "key"]``; ``"api-key.txt"`` -> ``["api", "key",
    "txt"]``."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", key)
    return [w.lower() for w in re.split(r"[^A-Za-z0-9]+", spaced) if w]


def credential_key(key: str) -> bool:
    """Whether a ConfigMap key names a credential (``password``, ``api_key``, ``AWS_SECRET_ACCESS_KEY``), not a
    reference to one (``secret_name``, ``token_path``) or a word that merely contains one (``tokenizer.json``)."""
    words = key_words(key)
    if not words or words[-1] in REFERENCE_SUFFIXES:
        return False
    return any(w in CREDENTIAL_WORDS for w in words) or any(p in CREDENTIAL_PAIRS for p in pairwise(words))


def _entries(props: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    data = get(props, "data") or {}
    for key in sorted(data):
        yield str(key), str(data[key] if data[key] is not None else "")


@resource_policy(
    "k8s-configmap-no-credentials",
    "ConfigMap data holds no credentials: no non-empty value under a key named like a password, secret, token, "
    "API key, access key or private key, and no value containing an AWS access key id or a PEM private key.",
    [CONFIG_MAP],
    registry=POLICIES,
)
def _configmap_credentials(args: ResourceValidationArgs, report: Report) -> None:
    fix = "keep it in a Secret (or the cloud's secret manager) and reference it"
    for key, value in _entries(args.props):
        if AWS_ACCESS_KEY_ID.search(value):
            report(f"data[{key!r}] contains an AWS access key id: {fix}")
        elif PEM_PRIVATE_KEY.search(value):
            report(f"data[{key!r}] contains a PEM private key: {fix}")
        elif credential_key(key) and value.strip():
            report(f"data[{key!r}] is named like a credential and has a value: {fix}")
    for key in sorted(get(args.props, "binaryData") or {}):
        if credential_key(str(key)):
            report(f"binaryData[{key!r}] is named like a credential: {fix}")

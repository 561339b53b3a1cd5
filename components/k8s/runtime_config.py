"""How a runtime pod is configured: ``MLOPS_*`` variables, values read from Secrets, the workload spec file.

The runtime reads its settings from ``MLOPS_*`` variables (:class:`RuntimeSettings`) and its
workload spec (serving, training, batch, drift) from ``SPEC_FILE``, a ConfigMap mounted read-only.
Both are validated here by the runtime's own models, so a bad value fails the preview, not the pod.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from typing import cast

import pulumi
import pulumi_kubernetes as k8s
from pulumi_mlops.runtime.config import ENV_PREFIX, RuntimeSettings
from pydantic import BaseModel

__all__ = [
    "SPEC_DIR",
    "SPEC_FILE",
    "SPEC_KEY",
    "cpus_env",
    "join_uri",
    "runtime_env",
    "secret_env",
    "secret_value",
    "spec_checksum",
    "spec_config_map",
    "spec_volume",
]

SPEC_DIR = "/etc/mlops"
"""Mount point of the workload-spec ConfigMap."""
SPEC_KEY = "spec.json"
"""Key of the serialized workload spec inside its ConfigMap."""
SPEC_FILE = f"{SPEC_DIR}/{SPEC_KEY}"
"""Path passed to the runtime as ``--spec``."""


def runtime_env(**settings: pulumi.Input[str]) -> list[k8s.core.v1.EnvVarArgs]:
    """``MLOPS_*`` variables of :class:`RuntimeSettings`, validated by the runtime's own model.

    Plain values go through ``RuntimeSettings(...).to_env()``; values that are Outputs (bucket URIs)
    are validated when they resolve. An unknown setting name is an error here, not in the pod.
    """
    if "cpus" in settings:
        raise ValueError("runtime setting cpus is set from the container's CPU limit (cpus_env): set the limit instead")
    unknown = sorted(set(settings) - set(RuntimeSettings.model_fields))
    if unknown:
        raise ValueError(f"unknown runtime settings {unknown}: allowed are {sorted(RuntimeSettings.model_fields)}")
    plain = {k: v for k, v in settings.items() if isinstance(v, str)}
    env = [
        k8s.core.v1.EnvVarArgs(name=k, value=v)
        for k, v in sorted(RuntimeSettings.model_validate(plain).to_env().items())
    ]
    for key, value in sorted(settings.items()):
        if isinstance(value, str):
            continue
        source = pulumi.Output.from_input(cast(pulumi.Input[str], value))
        checked = source.apply(functools.partial(_check_setting, key))
        env.append(k8s.core.v1.EnvVarArgs(name=ENV_PREFIX + key.upper(), value=checked))
    return env


def cpus_env() -> list[k8s.core.v1.EnvVarArgs]:
    """``MLOPS_CPUS``: the container's ``limits.cpu`` in whole cores, rounded up by the kubelet (Downward API,
    divisor 1), from which the runtime sizes OpenMP, BLAS and PyTorch thread pools (``runtime/cpus.py``)."""
    return [
        k8s.core.v1.EnvVarArgs(
            name=ENV_PREFIX + "CPUS",
            value_from=k8s.core.v1.EnvVarSourceArgs(
                resource_field_ref=k8s.core.v1.ResourceFieldSelectorArgs(resource="limits.cpu", divisor="1")
            ),
        )
    ]


def _check_setting(key: str, value: str) -> str:
    return str(RuntimeSettings.model_validate({key: value}).model_dump()[key])


def secret_value(value: pulumi.Input[str]) -> pulumi.Output[str]:
    """``value`` marked secret (kept encrypted in state and masked in output)."""
    return pulumi.Output.secret(value)


def join_uri(base: pulumi.Input[str], *parts: str) -> pulumi.Output[str]:
    """``base/part/...`` for a bucket URI that may be an Output (no doubled slashes)."""
    return pulumi.Output.from_input(base).apply(lambda b: "/".join([b.rstrip("/"), *parts]))


def secret_env(name: str, secret: pulumi.Input[str], key: str) -> k8s.core.v1.EnvVarArgs:
    """An env var read from a key of a Kubernetes Secret."""
    return k8s.core.v1.EnvVarArgs(
        name=name,
        value_from=k8s.core.v1.EnvVarSourceArgs(
            secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=secret, key=key, optional=False)
        ),
    )


def spec_checksum(spec: BaseModel) -> str:
    """SHA-256 of a workload spec's JSON; put on pod templates so a spec change rolls the pods."""
    return hashlib.sha256(spec.model_dump_json().encode()).hexdigest()


def spec_config_map(
    resource_name: str,
    name: str,
    namespace: str,
    spec: BaseModel | pulumi.Output[BaseModel],
    object_labels: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> k8s.core.v1.ConfigMap:
    """ConfigMap holding a workload spec serialized by the runtime's own model (mounted at ``SPEC_FILE``);
    ``spec`` may be an Output (a spec holding bucket URIs)."""
    text: pulumi.Input[str] = (
        spec.apply(lambda s: s.model_dump_json(indent=2))
        if isinstance(spec, pulumi.Output)
        else spec.model_dump_json(indent=2)
    )
    return k8s.core.v1.ConfigMap(
        resource_name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace, labels=dict(object_labels)),
        data={SPEC_KEY: text},
        opts=opts,
    )


def spec_volume(config_map: str) -> k8s.core.v1.VolumeArgs:
    """Volume ``spec`` projecting the workload-spec ConfigMap."""
    return k8s.core.v1.VolumeArgs(
        name="spec",
        config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(
            name=config_map, items=[k8s.core.v1.KeyToPathArgs(key=SPEC_KEY, path=SPEC_KEY)], default_mode=0o444
        ),
    )

"""A workload of a stack's preview graph as it would run in its pod: the container's command, args,
environment and mounted ConfigMap files exactly as the graph gives them (Kubernetes' ``$(VAR)`` expansion,
Secret and field references resolved), for callers that rewire only what a laptop lacks (service
addresses, ports, the pod's own folders)."""

from __future__ import annotations

import json
import math
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pulumi_mlops.preview import ResourceGraph

__all__ = [
    "WORKLOAD_TYPES",
    "GraphPod",
    "expand",
    "free_port",
    "process_env",
    "resource_field",
    "run_process",
    "wait_for",
]

WORKLOAD_TYPES = {
    "Deployment": "kubernetes:apps/v1:Deployment",
    "CronJob": "kubernetes:batch/v1:CronJob",
    "Job": "kubernetes:batch/v1:Job",
}
"""Pulumi type tokens of the workload kinds a graph pod can come from."""

_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def expand(value: str, env: Mapping[str, str]) -> str:
    """Kubernetes' expansion of ``$(VAR)`` in command, args and env values (``$$`` escapes; unknown stays)."""

    def one(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))

    return _REF.sub(one, value)


def _millicores(quantity: str) -> int:
    text = str(quantity).strip()
    if text.endswith("m"):
        return int(text[:-1])
    return math.ceil(float(text) * 1000)


def resource_field(container: Mapping[str, Any], ref: Mapping[str, Any]) -> str:
    """A CPU ``resourceFieldRef`` as the kubelet resolves it: the request or limit over the divisor (default 1),
    rounded up; a CPU limit that is not set reads as the node's cores, here this machine's."""
    resource = str(ref["resource"])
    if resource not in ("requests.cpu", "limits.cpu"):
        raise LookupError(f"resourceFieldRef {resource!r}: only requests.cpu and limits.cpu are resolved locally")
    kind, _, name = resource.partition(".")
    value = (container.get("resources") or {}).get(kind, {}).get(name)
    milli = _millicores(value) if value is not None else 1000 * (os.cpu_count() or 1)
    return str(max(1, math.ceil(milli / _millicores(str(ref.get("divisor", "1"))))))


def _pod_spec(manifest: Mapping[str, Any]) -> dict[str, Any]:
    spec = manifest["spec"]
    if "jobTemplate" in spec:
        spec = spec["jobTemplate"]["spec"]
    return dict(spec["template"]["spec"])


@dataclass
class GraphPod:
    """One workload's pod as the graph (or a manifest made from it) declares it."""

    manifest: dict[str, Any]
    """The Deployment, CronJob or Job."""
    graph: ResourceGraph
    """Where its Secrets and ConfigMaps come from."""

    @classmethod
    def of(cls, graph: ResourceGraph, kind: str, name: str) -> GraphPod:
        """The workload of ``kind`` (``Deployment``, ``CronJob``, ``Job``) whose ``metadata.name`` is ``name``."""
        found = [r.props for r in graph.of_type(WORKLOAD_TYPES[kind]) if r.props["metadata"]["name"] == name]
        if len(found) != 1:
            raise LookupError(f"the graph has {len(found)} {kind}s named {name!r}, not one")
        return cls(found[0], graph)

    @property
    def name(self) -> str:
        return str(self.manifest["metadata"]["name"])

    @property
    def kind(self) -> str:
        return str(self.manifest.get("kind", "Job"))

    @property
    def namespace(self) -> str:
        return str(self.manifest["metadata"]["namespace"])

    @property
    def spec(self) -> dict[str, Any]:
        return _pod_spec(self.manifest)

    def container(self, name: str) -> dict[str, Any]:
        found = [c for c in self.spec["containers"] if c["name"] == name]
        if len(found) != 1:
            raise LookupError(f"{self.name}: no container named {name!r}")
        return found[0]

    def _objects(self, kind: str) -> dict[str, dict[str, str]]:
        objects: dict[str, dict[str, str]] = {}
        for res in self.graph.of_type(f"kubernetes:core/v1:{kind}"):
            meta = res.props["metadata"]
            if meta.get("namespace") == self.namespace:
                objects[meta["name"]] = {**(res.props.get("data") or {}), **(res.props.get("stringData") or {})}
        return objects

    def env(self, container: Mapping[str, Any], fields: Mapping[str, str] | None = None) -> dict[str, str]:
        """The container's environment as the kubelet builds it: values (expanded), Secret keys, ``fieldRef``s
        (from ``fields``, by field path), ``resourceFieldRef``s of CPU (:func:`resource_field`)."""
        secrets = self._objects("Secret")
        env: dict[str, str] = {}
        for item in container.get("env", []):
            if "value" in item:
                env[item["name"]] = expand(str(item["value"]), env)
            elif "secretKeyRef" in item["valueFrom"]:
                ref = item["valueFrom"]["secretKeyRef"]
                env[item["name"]] = secrets[ref["name"]][ref["key"]]
            elif "resourceFieldRef" in item["valueFrom"]:
                env[item["name"]] = resource_field(container, item["valueFrom"]["resourceFieldRef"])
            else:
                path = item["valueFrom"]["fieldRef"]["fieldPath"]
                if not fields or path not in fields:
                    raise LookupError(f"{self.name}: {item['name']} needs the value of field {path}")
                env[item["name"]] = fields[path]
        return env

    def argv(self, container: Mapping[str, Any], env: Mapping[str, str]) -> list[str]:
        """Command and args, ``$(VAR)``-expanded."""
        return [expand(str(a), env) for a in [*container.get("command", []), *container.get("args", [])]]

    def mounted_config_maps(self) -> dict[str, dict[str, str]]:
        """ConfigMap name -> data, for each ConfigMap volume of the pod."""
        config_maps = self._objects("ConfigMap")
        names = [v["configMap"]["name"] for v in self.spec.get("volumes", []) if "configMap" in v]
        return {name: config_maps[name] for name in names if name in config_maps}

    def config_files(self, container: Mapping[str, Any], root: Path) -> dict[str, Path]:
        """Mount path -> local folder holding the keys of each ConfigMap or Secret volume the container mounts."""
        sources = {"configMap": (self._objects("ConfigMap"), "name"), "secret": (self._objects("Secret"), "secretName")}
        volumes = {v["name"]: v for v in self.spec.get("volumes", [])}
        mounts: dict[str, Path] = {}
        for mount in container.get("volumeMounts", []):
            volume = volumes[mount["name"]]
            kind = next((k for k in sources if k in volume), None)
            if kind is None:
                continue
            objects, field = sources[kind]
            folder = root / mount["name"]
            folder.mkdir(parents=True, exist_ok=True)
            for key, text in objects[volume[kind][field]].items():
                (folder / key).write_text(text)
            mounts[mount["mountPath"]] = folder
        return mounts


def process_env(env: Mapping[str, str], extra: Mapping[str, str]) -> dict[str, str]:
    """A process environment: the image's PATH (this interpreter's bin first), the container's env, ``extra``."""
    path = os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"])
    return {"PATH": path, **env, **extra}


def run_process(
    argv: Sequence[str], env: Mapping[str, str], cwd: Path, log: Path, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` to completion, its output kept in ``log`` (and returned)."""
    done = subprocess.run(
        list(argv), env=dict(env), cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    log.write_text(f"$ {json.dumps(list(argv))}\n{done.stdout}\n--- stderr\n{done.stderr}")
    return done


def wait_for(check: Any, what: str, within_s: float = 180.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Poll ``check()`` until it is true; fail early when ``proc`` exits."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what}: the process exited with {proc.returncode}")
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{what}: not after {within_s:.0f} s")

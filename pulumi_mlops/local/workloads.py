"""One container of the graph as a local process in a fresh home, rewired only where a laptop differs from
the cluster.

What changes, and nothing else:

* ``MLOPS_TRACKING_URI``: the in-cluster MLflow Service becomes the local tracking server;
* the buckets: the loopback S3 API (``MLOPS_S3_ENDPOINT_URL``; test keys stand for Pod Identity);
* ``HOME``, ``MLOPS_HOME`` and every ConfigMap and Secret mount: folders under the workload's own root (the pod's
  emptyDir and volumes, gone with the pod); mount paths in the argv (also inside ``sh -c``) and the env follow them;
* ``MLOPS_PUSHGATEWAY_URL``: a closed loopback port (the drift job then keeps its metrics with its reports).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .pods import GraphPod, free_port, process_env, run_process
from .services import CLOUD_ENV

__all__ = ["LocalWorkload", "WorkloadError"]


class WorkloadError(RuntimeError):
    """A workload's process exited with a non-zero status (its log names the cause)."""


class LocalWorkload:
    """Runs one container of a graph pod as a local process."""

    def __init__(self, pod: GraphPod, container: str, root: Path, s3_endpoint: str, tracking_uri: str) -> None:
        self.pod, self.spec = pod, pod.container(container)
        self.root = root
        root.mkdir(parents=True)
        self.home = root / "tmp"
        """The pod's writable ``/tmp`` emptyDir (``HOME`` and ``MLOPS_HOME`` live there)."""
        self.home.mkdir()
        self.mounts = pod.config_files(self.spec, root / "mounts")
        """Mount path in the container -> local folder holding the ConfigMap's keys."""
        self.s3_endpoint, self.tracking_uri = s3_endpoint, tracking_uri
        self.log = root / "process.log"

    def graph_env(self, fields: Mapping[str, str] | None = None) -> dict[str, str]:
        """The container's environment exactly as the graph gives it."""
        return self.pod.env(self.spec, fields)

    def env(self, fields: Mapping[str, str] | None = None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The process environment: the graph's, rewired (see the module's docstring), then ``extra``."""
        env = self.graph_env(fields)
        local = {key: self._local_path(value) for key, value in env.items()}
        local.update({"HOME": str(self.home), "MLOPS_HOME": str(self.home / "mlops")})
        if "MLOPS_TRACKING_URI" in env:
            local["MLOPS_TRACKING_URI"] = self.tracking_uri
        if "MLOPS_PUSHGATEWAY_URL" in env:
            local["MLOPS_PUSHGATEWAY_URL"] = f"http://127.0.0.1:{free_port()}"
        return process_env(local, {**CLOUD_ENV, "MLOPS_S3_ENDPOINT_URL": self.s3_endpoint, **(extra or {})})

    def _local_path(self, value: str) -> str:
        """``value`` with a mount path in it made local (also inside a ``sh -c`` line)."""
        for path, folder in sorted(self.mounts.items(), key=lambda kv: -len(kv[0])):
            value = value.replace(path, str(folder))
        return value

    def argv(self, env: Mapping[str, str]) -> list[str]:
        """The container's command and args (``$(VAR)``-expanded) with mount paths made local."""
        return [self._local_path(a) for a in self.pod.argv(self.spec, env)]

    def spec_file(self, mount: str = "/etc/mlops", key: str = "spec.json") -> Path:
        """The local copy of a mounted ConfigMap key."""
        return self.mounts[mount] / key

    def edit_spec(self, change: Callable[[dict[str, Any]], dict[str, Any]], mount: str = "/etc/mlops") -> None:
        """Rewrite the mounted JSON spec through ``change`` (a local stand-in the caller names)."""
        path = self.spec_file(mount)
        path.write_text(json.dumps(change(json.loads(path.read_text())), indent=2))

    def run(self, argv: list[str], env: Mapping[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """Run to completion; a non-zero exit raises :class:`WorkloadError` with the log's tail."""
        done = run_process(argv, env, self.home, self.log, timeout)
        if done.returncode != 0:
            raise WorkloadError(
                f"{self.pod.name}: {' '.join(argv[:3])} exited with {done.returncode} (log: {self.log})\n"
                f"{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
            )
        return done

    def start(self, argv: list[str], env: Mapping[str, str]) -> subprocess.Popen[bytes]:
        """Start a long-running process (a server), its output appended to the workload's log."""
        with self.log.open("ab") as log:
            return subprocess.Popen(argv, env=dict(env), cwd=self.home, stdout=log, stderr=subprocess.STDOUT)

    def stored_locally(self, *names: str) -> list[Path]:
        """Files of ``names`` left in this pod's own folders (they would be lost with the pod)."""
        return sorted(p for p in self.home.rglob("*") if p.name in names)

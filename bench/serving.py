"""Model-server throughput, latency and overhead against ``mlflow models serve`` and MLServer, on loopback.

Two models, each registered in a temp MLflow registry with its ONNX export checked for parity:

* ``raw``: a GradientBoostingClassifier (100 trees) on 20 numeric features, sent as one ``[N, 20]`` FP64 tensor;
* ``demo``: the demo's churn model, trained by ``mlops train``'s own code from the dev stack's training spec
  (gradient boosting in the trainer's ColumnTransformer pipeline, 6 numeric and 4 categorical columns), sent as
  one tensor per column.

Servers: this one under ``--format auto`` (ONNX Runtime, since the export passed its check), the same with
``--format native`` (and, for ``raw``, with ``max_batch_size=1``), ``mlflow models serve --env-manager local``
(one worker, from the project's environment) and MLServer with its scikit-learn runtime (a peer environment
from ``bench/peers/mlserver.txt``, when it installs). Each server is pinned to one core and the load generator
(:mod:`bench._http_load`) to the others; each cell is ``BENCH_SECONDS`` (5) after a second of warm-up, for
1-row and 32-row requests at concurrency 8 and 64.

Besides requests per second and latency, each cell records the server's CPU time per request. For this server
the model's share of it is the CPU time of its model calls (its ``mlops_model_cpu_seconds`` metric), so what
remains is the overhead outside the model, checked against 150 us per request plus 3 us per row. Results, with
versions and the machine, go to ``bench/results/serving.json``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench._http_load import cpu_seconds, drive, free_port, pin, split_cpus, wait_http
from bench._serving_models import Model, register_demo, register_raw
from bench.peers import peer_python, peer_versions
from bench.timing import machine, versions

__all__ = ["main"]

ROWS = (1, 32)
CONCURRENCY = (8, 64)
SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))
WARMUP_SECONDS = 1.0
RESULTS = Path(__file__).parent / "results" / "serving.json"
OVERHEAD_US = 150.0
OVERHEAD_US_PER_ROW = 3.0


@dataclass
class Cell:
    model: str
    server: str
    rows: int
    concurrency: int
    requests: int
    errors: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us_per_request: float | None = None
    """Server CPU time (its whole process tree) per answered request, warm-up included."""
    batch_rows: float | None = None
    """This server: mean rows per micro-batch."""
    model_us_per_request: float | None = None
    """This server: CPU time of its model calls per request (``mlops_model_cpu_seconds``)."""
    overhead_us_per_request: float | None = None
    """This server: CPU time per request outside the model."""
    core_capacity_rps: float | None = None
    """Requests per second one core would answer at this CPU time per request (``1e6 / cpu_us_per_request``):
    what the server would do with its core to itself, where the measured rate shares it with other work."""


def _env(home: Path, tracking: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    env.update(
        MLOPS_HOME=str(home),
        MLOPS_TRACKING_URI=tracking,
        MLOPS_LOG_LEVEL="WARNING",
        MLFLOW_TRACKING_URI=tracking,
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    return env


def _datatype(series: Any) -> str:
    return "BYTES" if series.dtype == object else ("INT64" if series.dtype.kind == "i" else "FP64")


def _body(server: str, model: Model, rows: int) -> tuple[str, dict[str, Any]]:
    """The request path and JSON body each server takes for ``rows`` rows."""
    frame = model.frame.head(rows)
    if server == "mlflow":
        return "/invocations", {"dataframe_split": json.loads(frame.to_json(orient="split", index=False))}
    per_column = [
        {"name": c, "datatype": _datatype(frame[c]), "shape": [rows], "data": frame[c].tolist()} for c in frame.columns
    ]
    matrix = {"datatype": "FP64", "shape": [rows, frame.shape[1]], "data": frame.round(6).to_numpy().tolist()}
    if server == "mlserver":
        body: dict[str, Any] = {"outputs": [{"name": "predict_proba"}]}
        if model.name == "raw":
            return "/v2/models/raw/infer", body | {"inputs": [{"name": "input-0", **matrix}]}
        return "/v2/models/demo/infer", body | {"parameters": {"content_type": "pd"}, "inputs": per_column}
    if model.name == "raw":
        return "/v2/models/raw/infer", {"parameters": {"content_type": "np"}, "inputs": [{"name": "input", **matrix}]}
    return f"/v2/models/{model.name}/infer", {"inputs": per_column}


def _request(path: str, body: dict[str, Any], port: int) -> bytes:
    payload = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


def _start(server: str, model: Model, home: Path, env: dict[str, str], cpu: set[int] | None) -> Any:
    """Start one server pinned to ``cpu``; returns ``(process, port)``, or None when its peer is unavailable."""
    from pulumi_mlops.runtime.config import ServingSpec

    port = free_port()
    bin_dir = Path(sys.executable).parent
    preexec = (lambda: os.sched_setaffinity(0, cpu)) if cpu else None
    quiet = subprocess.DEVNULL
    if server.startswith("ours"):
        batch = 1 if server == "ours-unbatched" else 32
        spec = ServingSpec.model_validate({"model": {"name": model.name}, "port": port, "max_batch_size": batch})
        path = home / f"spec-{model.name}-{server}.json"
        path.write_text(spec.model_dump_json())
        fmt = "native" if server == "ours-native" else "auto"
        command = [str(bin_dir / "mlops"), "serve", "--spec", str(path), "--host", "127.0.0.1", "--format", fmt]
        logs = env | {"MLOPS_PREDICTION_LOG_URI": str(home / f"prediction-logs-{model.name}-{server}")}
        process = subprocess.Popen(command, env=logs, preexec_fn=preexec, stdout=quiet, stderr=quiet)
        wait_http(port, "/v2/health/ready", process)
    elif server == "mlflow":
        command = [str(bin_dir / "mlflow"), "models", "serve", "-m", f"models:/{model.name}@champion"]
        command += ["--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", "1"]
        process = subprocess.Popen(command, env=env, preexec_fn=preexec, stdout=quiet, stderr=quiet)
        wait_http(port, "/ping", process)
    else:
        python = peer_python("mlserver")
        if python is None:
            return None
        import joblib

        folder = home / f"mlserver-{model.name}"
        (folder / "model").mkdir(parents=True, exist_ok=True)
        joblib.dump(model.fitted, folder / "model" / "model.joblib")
        settings = {"name": model.name, "implementation": "mlserver_sklearn.SKLearnModel",
                    "parameters": {"uri": "./model.joblib", "version": model.version}}  # fmt: skip
        (folder / "model" / "model-settings.json").write_text(json.dumps(settings))
        ports = {"http_port": port, "grpc_port": free_port(), "metrics_port": free_port(), "parallel_workers": 0}
        (folder / "settings.json").write_text(json.dumps(ports))
        command = [str(Path(python).parent / "mlserver"), "start", str(folder)]
        process = subprocess.Popen(command, env=env, cwd=folder, preexec_fn=preexec, stdout=quiet, stderr=quiet)
        wait_http(port, f"/v2/models/{model.name}/ready", process)
    return process, port


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _server_metrics(port: int, name: str) -> tuple[float, float, float]:
    """``(micro-batches, rows in them, CPU seconds in model calls)`` of this server so far."""
    import httpx

    found = {"mlops_batch_size_count": 0.0, "mlops_batch_size_sum": 0.0, "mlops_model_cpu_seconds_total": 0.0}
    for line in httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text.splitlines():
        metric = line.split("{", 1)[0]
        if metric in found and f'model="{name}"' in line:
            found[metric] = float(line.split()[-1])
    return found["mlops_batch_size_count"], found["mlops_batch_size_sum"], found["mlops_model_cpu_seconds_total"]


def _measure(server: str, model: Model, port: int, pid: int, client_cpus: set[int] | None) -> list[Cell]:
    cells = []
    pin(client_cpus)
    for rows in ROWS:
        path, body = _body(server, model, rows)
        payload = _request(path, body, port)
        for concurrency in CONCURRENCY:
            ours = server.startswith("ours")
            before_metrics = _server_metrics(port, model.name) if ours else (0.0, 0.0, 0.0)
            before_cpu = cpu_seconds(pid)
            load = drive(port, payload, concurrency, WARMUP_SECONDS, SECONDS)
            after_cpu = cpu_seconds(pid)
            latencies = sorted(load.latencies)
            n = len(latencies)

            def pct(q: float, values: list[float] = latencies, count: int = n) -> float:
                return values[min(count - 1, int(q * count))] * 1000 if count else float("nan")

            cell = Cell(
                model.name, server, rows, concurrency, n, load.errors, SECONDS, n / SECONDS, pct(0.5), pct(0.99)
            )
            if before_cpu is not None and after_cpu is not None and load.sent and after_cpu > before_cpu:
                cell.cpu_us_per_request = (after_cpu - before_cpu) / load.sent * 1e6
                cell.core_capacity_rps = 1e6 / cell.cpu_us_per_request
            if ours and load.sent:
                after = _server_metrics(port, model.name)
                batches, batch_rows, model_cpu = (a - b for a, b in zip(after, before_metrics, strict=True))
                cell.batch_rows = batch_rows / batches if batches else float(rows)
                cell.model_us_per_request = model_cpu / load.sent * 1e6
                if cell.cpu_us_per_request is not None:
                    cell.overhead_us_per_request = cell.cpu_us_per_request - cell.model_us_per_request
            extra = "" if cell.overhead_us_per_request is None else f"  overhead {cell.overhead_us_per_request:6.0f} us"
            cpu = "" if cell.cpu_us_per_request is None else f"  cpu {cell.cpu_us_per_request:7.0f} us/req"
            print(
                f"{model.name:<5} {server:<15} rows={rows:<3} c={concurrency:<3} {cell.rps:>8.1f} req/s  "
                f"p50 {cell.p50_ms:7.2f} ms  p99 {cell.p99_ms:7.2f} ms  errors {load.errors}{cpu}{extra}",
                flush=True,
            )
            cells.append(cell)
    return cells


def _ratio(cells: list[Cell], model: str, a: str, b: str, rows: int, concurrency: int) -> float | None:
    def rps(server: str) -> float | None:
        found = [
            c.rps for c in cells if (c.model, c.server, c.rows, c.concurrency) == (model, server, rows, concurrency)
        ]
        return found[0] if found else None

    top, bottom = rps(a), rps(b)
    return top / bottom if top is not None and bottom else None


def _targets(cells: list[Cell], ratios: dict[str, float | None]) -> dict[str, bool | None]:
    def cell(model: str, server: str, rows: int, concurrency: int) -> Cell | None:
        found = [c for c in cells if (c.model, c.server, c.rows, c.concurrency) == (model, server, rows, concurrency)]
        return found[0] if found else None

    one, many = cell("demo", "ours", 1, 8), cell("demo", "ours", 32, 8)
    capacity = {
        f"demo (ONNX) one core's capacity >= {floor} req/s at {rows} row(s) c=8 (from CPU time per request)": (
            None if c is None or c.core_capacity_rps is None else c.core_capacity_rps >= floor
        )
        for c, rows, floor in ((one, 1, 2500), (many, 32, 1500))
    }
    batched = ratios.get("raw ours/ours-unbatched rows=1 c=64")
    vs_mlflow = ratios.get("demo ours/mlflow rows=1 c=8")
    targets: dict[str, bool | None] = {
        "demo (ONNX) >= 2500 req/s at 1 row c=8": one.rps >= 2500 if one else None,
        "demo (ONNX) p99 < 10 ms at 1 row c=8": one.p99_ms < 10 if one else None,
        "demo (ONNX) >= 1500 req/s at 32 rows c=8": many.rps >= 1500 if many else None,
        "demo (ONNX) >= 30x mlflow models serve at 1 row c=8": vs_mlflow >= 30 if vs_mlflow else None,
        "raw: batching >= 1.5x unbatched at 1 row c=64": batched >= 1.5 if batched else None,
        **capacity,
    }
    for c in cells:
        if c.server == "ours" and c.concurrency == 8 and c.overhead_us_per_request is not None:
            limit = OVERHEAD_US + OVERHEAD_US_PER_ROW * c.rows
            targets[f"{c.model} overhead <= {limit:.0f} us/request at {c.rows} rows c=8"] = (
                c.overhead_us_per_request <= limit
            )
    return targets


def main() -> None:
    import mlflow

    server_cpu, client_cpus = split_cpus()
    original = os.sched_getaffinity(0) if client_cpus else None
    peer = peer_python("mlserver")
    cells: list[Cell] = []
    try:
        with tempfile.TemporaryDirectory(prefix="mlops-bench-serving-") as tmp:
            home = Path(tmp)
            tracking = f"sqlite:///{home / 'mlflow.db'}"
            mlflow.set_tracking_uri(tracking)
            mlflow.set_registry_uri(tracking)
            mlflow.create_experiment("bench", artifact_location=str(home / "artifacts"))
            env = _env(home, tracking)
            print("registering the raw model (GradientBoostingClassifier, 20 features) and the demo model ...")
            models = [register_raw(home), register_demo(home)]
            for model in models:
                servers = ["ours", "ours-native", *(["ours-unbatched"] if model.name == "raw" else []), "mlflow"]
                servers += ["mlserver"] if peer is not None else []
                for server in servers:
                    pin(original)
                    started = _start(server, model, home, env, server_cpu)
                    if started is None:
                        continue
                    process, port = started
                    try:
                        cells += _measure(server, model, port, process.pid, client_cpus)
                    finally:
                        _stop(process)
    finally:
        pin(original)

    ratios: dict[str, float | None] = {}
    for name in ("raw", "demo"):
        for peer_name in ("mlflow", "mlserver", "ours-native"):
            for rows in ROWS:
                for concurrency in CONCURRENCY:
                    key = f"{name} ours/{peer_name} rows={rows} c={concurrency}"
                    ratios[key] = _ratio(cells, name, "ours", peer_name, rows, concurrency)
    for rows in ROWS:
        ratios[f"raw ours/ours-unbatched rows={rows} c=64"] = _ratio(cells, "raw", "ours", "ours-unbatched", rows, 64)
    ratios = {k: v for k, v in ratios.items() if v is not None}
    targets = _targets(cells, ratios)
    print()
    header = f"{'model':<6}{'server':<16}{'rows':>5}{'conc':>6}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}"
    print(header + f"{'cpu us/req':>12}{'model us':>10}{'overhead':>10}{'1-core req/s':>14}")
    for c in cells:
        extra = "".join(
            f"{v:>{w}.0f}" if v is not None else f"{'-':>{w}}"
            for v, w in (
                (c.cpu_us_per_request, 12),
                (c.model_us_per_request, 10),
                (c.overhead_us_per_request, 10),
                (c.core_capacity_rps, 14),
            )
        )
        print(
            f"{c.model:<6}{c.server:<16}{c.rows:>5}{c.concurrency:>6}{c.rps:>10.1f}{c.p50_ms:>9.2f}{c.p99_ms:>9.2f}{extra}"
        )
    print()
    for name, value in ratios.items():
        print(f"{name:<44} {value:7.2f}x")
    for name, met in targets.items():
        print(f"{'n/a' if met is None else 'met' if met else 'NOT met':<8} {name}")
    packages = versions("pulumi-mlops", "mlflow", "onnxruntime", "scikit-learn", "numpy", "fastapi", "uvicorn")
    if peer is not None:
        packages |= {f"mlserver peer: {k}": v for k, v in peer_versions(peer, "mlserver", "mlserver-sklearn").items()}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "machine": machine(),
                "versions": packages,
                "server_cpus": sorted(server_cpu) if server_cpu else None,
                "client_cpus": sorted(client_cpus) if client_cpus else None,
                "seconds_per_cell": SECONDS,
                "cells": [asdict(c) for c in cells],
                "ratios": ratios,
                "targets": targets,
            },
            indent=2,
        )
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()

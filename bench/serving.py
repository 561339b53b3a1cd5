"""Model-server throughput and latency against ``mlflow models serve``, on loopback.

Serves one GradientBoostingClassifier (100 trees, 20 numeric features) registered in a temp MLflow
registry, with this server (micro-batching on, then ``max_batch_size=1``) and with
``mlflow models serve --env-manager local`` (one worker each), and drives each with the same
closed-loop HTTP/1.1 keep-alive client for 1-row and 32-row payloads at concurrency 8 and 64.
Prints a table and the ratios; writes ``bench/results/serving.json``.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["main"]

FEATURES = [f"f{i}" for i in range(20)]
ROWS = (1, 32)
CONCURRENCY = (8, 64)
SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))
WARMUP_SECONDS = 1.0
RESULTS = Path(__file__).parent / "results" / "serving.json"


@dataclass
class Cell:
    server: str
    rows: int
    concurrency: int
    requests: int
    errors: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _register(home: Path) -> tuple[str, dict[str, str]]:
    """Train and register the benchmark model; returns its tracking URI and the server environment."""
    import mlflow
    import numpy as np
    import pandas as pd
    from mlflow.models import infer_signature
    from pulumi_mlops.runtime.registry.digest import DIGEST_TAG, directory_digest
    from sklearn.ensemble import GradientBoostingClassifier

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(4000, len(FEATURES))), columns=FEATURES)
    label = (frame["f0"] + frame["f1"] * frame["f2"] + rng.normal(scale=0.5, size=len(frame)) > 0).astype(int)
    model = GradientBoostingClassifier(n_estimators=100, random_state=0).fit(frame, label)
    tracking = f"sqlite:///{home / 'mlflow.db'}"
    mlflow.set_tracking_uri(tracking)
    mlflow.create_experiment("bench", artifact_location=str(home / "artifacts"))
    mlflow.set_experiment("bench")
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(frame, model.predict_proba(frame)[:, 1]),
            input_example=frame.head(1),
            registered_model_name="bench",
            pip_requirements=["scikit-learn"],
            skops_trusted_types=["sklearn.tree._tree.Tree"],
        )
    version = str(info.registered_model_version)
    client = mlflow.MlflowClient()
    local = mlflow.artifacts.download_artifacts(artifact_uri=f"models:/bench/{version}", dst_path=str(home / "dl"))
    client.set_model_version_tag("bench", version, DIGEST_TAG, directory_digest(local))
    client.set_registered_model_alias("bench", "champion", version)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    env.update(
        MLOPS_HOME=str(home),
        MLOPS_TRACKING_URI=tracking,
        MLOPS_LOG_LEVEL="WARNING",
        MLFLOW_TRACKING_URI=tracking,
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    return tracking, env


def _wait_http(port: int, path: str, process: subprocess.Popen[bytes], seconds: float = 120) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}{path}", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server on port {port} did not answer {path}")


def _start_ours(home: Path, env: dict[str, str], batch: int) -> tuple[subprocess.Popen[bytes], int]:
    from pulumi_mlops.runtime.config import ServingSpec

    port = _free_port()
    spec = ServingSpec.model_validate({"model": {"name": "bench"}, "port": port, "max_batch_size": batch})
    path = home / f"spec-{batch}.json"
    path.write_text(spec.model_dump_json())
    env = env | {"MLOPS_PREDICTION_LOG_URI": str(home / f"prediction-logs-{batch}")}
    mlops = Path(sys.executable).parent / "mlops"
    process = subprocess.Popen([str(mlops), "serve", "--spec", str(path), "--host", "127.0.0.1"], env=env)
    _wait_http(port, "/v2/health/ready", process)
    return process, port


def _start_mlflow(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    mlflow = Path(sys.executable).parent / "mlflow"
    command = [str(mlflow), "models", "serve", "-m", "models:/bench@champion", "--env-manager", "local"]
    command += ["-h", "127.0.0.1", "-p", str(port), "-w", "1"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_http(port, "/ping", process)
    return process, port


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _request(server: str, port: int, rows: int) -> bytes:
    import numpy as np

    data = np.random.default_rng(rows).normal(size=(rows, len(FEATURES))).round(6).tolist()
    if server == "mlflow":
        path = "/invocations"
        body = json.dumps({"dataframe_split": {"columns": FEATURES, "data": data}}).encode()
    else:
        path = "/v2/models/bench/infer"
        tensor = {"name": "input", "datatype": "FP64", "shape": [rows, len(FEATURES)], "data": data}
        body = json.dumps({"parameters": {"content_type": "np"}, "inputs": [tensor]}).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _connection(port: int, payload: bytes, stop_at: float, record_from: float, out: dict[str, Any]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    latencies: list[float] = out["latencies"]
    try:
        while True:
            start = time.perf_counter()
            if start >= stop_at:
                return
            writer.write(payload)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            end = time.perf_counter()
            if start >= record_from:
                if head[9:12] == b"200":
                    latencies.append(end - start)
                else:
                    out["errors"] += 1
    except (OSError, asyncio.IncompleteReadError):
        out["errors"] += 1
    finally:
        writer.close()


async def _drive(port: int, payload: bytes, concurrency: int) -> tuple[list[float], int, float]:
    begin = time.perf_counter()
    record_from = begin + WARMUP_SECONDS
    stop_at = record_from + SECONDS
    out: dict[str, Any] = {"latencies": [], "errors": 0}
    await asyncio.gather(*(_connection(port, payload, stop_at, record_from, out) for _ in range(concurrency)))
    return out["latencies"], out["errors"], SECONDS


def _run(port: int, payload: bytes, concurrency: int) -> tuple[list[float], int, float]:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(_drive(port, payload, concurrency))
    return uvloop.run(_drive(port, payload, concurrency))


def _measure(server: str, port: int) -> list[Cell]:
    cells = []
    for rows in ROWS:
        payload = _request(server, port, rows)
        for concurrency in CONCURRENCY:
            latencies, errors, seconds = _run(port, payload, concurrency)
            latencies.sort()
            n = len(latencies)

            def pct(q: float, values: list[float] = latencies, count: int = n) -> float:
                return values[min(count - 1, int(q * count))] * 1000 if count else float("nan")

            cell = Cell(server, rows, concurrency, n, errors, seconds, n / seconds, pct(0.50), pct(0.99))
            print(
                f"{server:<16} rows={rows:<3} c={concurrency:<3} {cell.rps:>9.1f} req/s  "
                f"p50 {cell.p50_ms:7.2f} ms  p99 {cell.p99_ms:7.2f} ms  errors {errors}",
                flush=True,
            )
            cells.append(cell)
    return cells


def _ratio(cells: list[Cell], a: str, b: str, rows: int, concurrency: int) -> float:
    def rps(server: str) -> float:
        return next(c.rps for c in cells if c.server == server and c.rows == rows and c.concurrency == concurrency)

    return rps(a) / rps(b) if rps(b) else float("inf")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="mlops-bench-serving-") as tmp:
        home = Path(tmp)
        print("registering GradientBoostingClassifier(100 trees, 20 features) ...", flush=True)
        _, env = _register(home)
        cells: list[Cell] = []
        for server in ("ours", "ours-unbatched", "mlflow"):
            if server == "mlflow":
                process, port = _start_mlflow(env)
            else:
                process, port = _start_ours(home, env, 32 if server == "ours" else 1)
            try:
                cells += _measure(server, port)
            finally:
                _stop(process)

    ratios = {f"ours/mlflow rows={r} c={c}": _ratio(cells, "ours", "mlflow", r, c) for r in ROWS for c in CONCURRENCY}
    ratios |= {f"ours/ours-unbatched rows={r} c=64": _ratio(cells, "ours", "ours-unbatched", r, 64) for r in ROWS}
    print()
    print(f"{'server':<16}{'rows':>5}{'conc':>6}{'req/s':>11}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for cell in cells:
        print(
            f"{cell.server:<16}{cell.rows:>5}{cell.concurrency:>6}{cell.rps:>11.1f}"
            f"{cell.p50_ms:>9.2f}{cell.p99_ms:>9.2f}{cell.errors:>8}"
        )
    print()
    for name, value in ratios.items():
        print(f"{name:<36} {value:6.2f}x")
    ours = next(c for c in cells if c.server == "ours" and c.rows == 1 and c.concurrency == 8)
    targets = {
        "ours >= 10x mlflow req/s at 1 row c=8": ratios["ours/mlflow rows=1 c=8"] >= 10,
        "ours p99 <= 10 ms at 1 row c=8": ours.p99_ms <= 10,
        "batching >= 1.5x unbatched at 1 row c=64": ratios["ours/ours-unbatched rows=1 c=64"] >= 1.5,
    }
    for name, met in targets.items():
        print(f"{'met' if met else 'NOT met':<8} {name}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "seconds_per_cell": SECONDS,
                "cpus": os.cpu_count(),
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

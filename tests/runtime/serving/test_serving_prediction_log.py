"""Prediction logs: parquet rows for drift detection, complete after SIGTERM, bounded in memory."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pyarrow.dataset as ds
from pulumi_mlops.runtime.config import PredictionLogSpec, ServingSpec
from pulumi_mlops.runtime.serving.metrics import ServingMetrics
from pulumi_mlops.runtime.serving.prediction_log import PredictionLogger
from serving_support import FEATURES, MODEL, Registry, free_port, rows, v2_request


def test_sigterm_drains_and_flushes_every_row(registry: Registry, tmp_path: Path) -> None:
    port = free_port()
    spec = tmp_path / "spec.json"
    serving = ServingSpec.model_validate(
        {"model": {"name": MODEL}, "port": port, "prediction_log": {"flush_seconds": 3600, "flush_rows": 100000}}
    )
    spec.write_text(serving.model_dump_json())
    logs = tmp_path / "logs"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    env.update(
        MLOPS_HOME=str(tmp_path / "home"),
        MLOPS_TRACKING_URI=registry.settings.resolved_tracking_uri(),
        MLOPS_PREDICTION_LOG_URI=str(logs),
        MLOPS_LOG_LEVEL="WARNING",
    )
    mlops = Path(sys.executable).parent / "mlops"
    process = subprocess.Popen(
        [str(mlops), "serve", "--spec", str(spec), "--host", "127.0.0.1"], env=env, stderr=subprocess.PIPE, text=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "server did not become ready"
            try:
                if httpx.get(f"{url}/v2/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        records = rows(30, seed=11)

        async def send() -> list[str]:
            async with httpx.AsyncClient(timeout=30) as client:
                responses = await asyncio.gather(
                    *(
                        client.post(f"{url}/v2/models/{MODEL}/infer", json=v2_request([r]) | {"id": f"r{i}"})
                        for i, r in enumerate(records)
                    )
                )
            assert all(r.status_code == 200 for r in responses)
            return [r.json()["model_version"] for r in responses]

        versions = asyncio.run(send())
        assert not logs.exists() or not any(logs.rglob("*.parquet"))
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) in (0, -signal.SIGTERM)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    files = sorted(logs.rglob("*.parquet"))
    assert files and all(f.name.startswith("part-") for f in files)
    version = versions[0]
    assert all(f.parent.name == f"version={version}" and f.parent.parent.name.startswith("date=") for f in files)
    assert all(f.parent.parent.parent.name == f"model_name={MODEL}" for f in files)
    table = ds.dataset([str(f) for f in files], format="parquet").to_table()
    assert table.num_rows == len(records)
    assert table.column_names == [*FEATURES, "prediction", "request_id", "row", "timestamp", "model_version"]
    assert set(table.column("row").to_pylist()) == {0}
    frame = table.to_pandas().sort_values("request_id", key=lambda s: s.str[1:].astype(int))
    assert list(frame["request_id"]) == [f"r{i}" for i in range(len(records))]
    assert set(frame["model_version"]) == {int(version)}
    np.testing.assert_allclose(frame["prediction"], registry.expected(version, records))
    np.testing.assert_allclose(frame["tenure"], [r["tenure"] for r in records])


def test_buffer_is_bounded_and_drops_are_counted(tmp_path: Path) -> None:
    metrics = ServingMetrics()
    spec = PredictionLogSpec(flush_rows=5, max_buffered_rows=10)
    logger = PredictionLogger(spec, str(tmp_path), metrics)
    columns = {"x": np.arange(4, dtype=np.float64)}
    for i in range(4):
        logger.record("1", ("x",), columns, np.full(4, 0.5), [(f"r{i}a", 1), (f"r{i}b", 3)])
    assert metrics.log_rows.labels("dropped")._value.get() == 8
    assert logger.flush() == 8
    assert metrics.log_rows.labels("written")._value.get() == 8
    table = ds.dataset(str(tmp_path), format="parquet", partitioning="hive").to_table()
    assert table.num_rows == 8 and set(table.column("version").to_pylist()) == {1}
    assert table.column("request_id").to_pylist() == ["r0a", "r0b", "r0b", "r0b", "r1a", "r1b", "r1b", "r1b"]
    assert table.column("row").to_pylist() == [0, 0, 1, 2, 0, 0, 1, 2]


def test_rows_carry_their_index_and_models_their_own_folder(tmp_path: Path) -> None:
    """Rows of a request keep their position in it; two models logging under one root write apart."""
    spec = PredictionLogSpec()
    loggers = {name: PredictionLogger(spec, str(tmp_path), model=name) for name in ("alpha", "beta")}
    columns = {"x": np.arange(5, dtype=np.float64)}
    loggers["alpha"].record("1", ("x",), columns, np.linspace(0, 1, 5), [("a", 2), ("b", 3)])
    loggers["beta"].record("1", ("x",), columns, np.zeros(5), [("c", 5)])
    assert loggers["alpha"].flush() == 5 and loggers["beta"].flush() == 5
    table = ds.dataset(str(tmp_path), format="parquet", partitioning="hive").to_table().to_pandas()
    for name, expected in (("alpha", [0, 1, 0, 1, 2]), ("beta", [0, 1, 2, 3, 4])):
        assert table.loc[table["model_name"] == name, "row"].tolist() == expected


def test_files_encode_repeating_columns_by_dictionary_and_keep_statistics_for_selection(tmp_path: Path) -> None:
    """Strings and integers are dictionary-encoded, floats plain; min/max statistics are kept for the columns
    readers select on (time, version, score, row) and not for the features; the types read back unchanged; rows
    logged on two days land in two date partitions."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    logger = PredictionLogger(PredictionLogSpec(), str(tmp_path), model="m")
    plan = np.empty(4, dtype=object)
    plan[:] = ["basic", "pro", "basic", "plus"]
    columns = {"tenure": np.array([1.5, 2.5, 3.5, 4.5]), "calls": np.arange(4), "plan": plan}
    names = ("tenure", "calls", "plan")
    logger.record("2", names, columns, np.linspace(0, 1, 4), [("a", 4)])
    logger._buffer[0].timestamp = 86400 * 20000 + 5.0  # 2024-10-04
    logger.record("2", names, columns, np.linspace(0, 1, 4), [("b", 4)])
    logger._buffer[1].timestamp = 86400 * 20001 + 5.0
    assert logger.flush() == 8
    files = sorted(tmp_path.rglob("*.parquet"))
    assert [f.parent.parent.name for f in files] == ["date=2024-10-04", "date=2024-10-05"]
    metadata = pq.ParquetFile(files[0]).metadata
    chunks = {metadata.schema.column(i).name: metadata.row_group(0).column(i) for i in range(metadata.num_columns)}
    dictionary = {name for name, chunk in chunks.items() if "RLE_DICTIONARY" in chunk.encodings}
    assert dictionary == {"calls", "plan", "request_id", "row", "timestamp", "model_version"}
    with_statistics = {name for name, chunk in chunks.items() if chunk.is_stats_set}
    assert with_statistics == {"prediction", "row", "timestamp", "model_version"}
    table = pq.read_table(files[0])
    assert table.schema.field("plan").type == pa.string() and table.column("plan").to_pylist() == list(plan)
    assert table.schema.field("tenure").type == pa.float64() and table.column("calls").to_pylist() == [0, 1, 2, 3]

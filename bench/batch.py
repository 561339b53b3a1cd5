"""Batch scoring overhead, and ONNX Runtime against the native scikit-learn model.

Model: the trainer's gradient-boosting pipeline (100 trees; 6 numeric and 4 categorical churn
features) fitted on 20,000 generated rows. Input: ``BATCH_BENCH_ROWS`` (default 200,000) generated
rows in one parquet file.

- ``plain``: ``pd.read_parquet`` of the file and one ``model.predict_proba`` over every row.
- ``batch``: :func:`pulumi_mlops.runtime.batch.run_batch` on the same file with
  ``chunk_rows=50,000``: input digest, chunked reads, row checks, scoring, parquet parts, manifest.
  The overhead ratio is ``batch seconds / plain seconds`` (target: at most 1.3).
- ``native`` vs ``onnx``: ``predict_proba`` on the same in-memory batch of up to 100,000 rows with
  the scikit-learn pipeline and with its ONNX export under ONNX Runtime.
- ``one process`` vs ``two shards``: one file of ``BATCH_BENCH_SHARD_ROWS`` (default 1,000,000) generated rows
  scored by one fresh process (``run_batch``, one shard), and by two fresh processes started together, each
  scoring its shard of one run (``shards=2``; the second to finish writes the run's manifest). Both pay the
  process start and model load, as pods do, and each process has one core of its own, as a pod has its CPU
  limit: it is pinned to one CPU (``sched_setaffinity``) and sizes its thread pools to it
  (:func:`pulumi_mlops.runtime.cpus.limit_threads`). So the speed-up, ``one-process seconds / two-shard
  seconds`` (at most 2), is what a second pod adds; it needs two usable cores (else it is not measured), and
  other load on the machine takes its share, so the run records the load average. ``shard_bound`` is what
  splitting does to the work itself: the whole run in this process over the slower of its two shards run one
  after the other in this process.

Every path in this process runs on ``BATCH_BENCH_THREADS`` threads (default 1: OpenMP/BLAS pools limited with
threadpoolctl, ONNX Runtime's intra-op pool set to match), so timings on a shared machine compare
like with like; the shard processes have one core each (above). Each timing is the best of
``BATCH_BENCH_REPEATS`` (default 3). Results go to ``bench/results/batch.json``.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import pickle
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .timing import best_of

__all__ = ["main"]

RESULTS = Path(__file__).resolve().parent / "results" / "batch.json"
ROWS = int(os.environ.get("BATCH_BENCH_ROWS", "200000"))
REPEATS = int(os.environ.get("BATCH_BENCH_REPEATS", "3"))
THREADS = int(os.environ.get("BATCH_BENCH_THREADS", "1"))
SHARD_ROWS = int(os.environ.get("BATCH_BENCH_SHARD_ROWS", "1000000"))
CHUNK_ROWS = 50_000


def _best(fn: Callable[[], Any]) -> float:
    return best_of(fn, REPEATS)


def main() -> None:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(THREADS):
        _run()


def _shard(model_file: str, source: str, out: str, run_id: str, shard: int, shards: int, cpu: int) -> None:
    """One scoring process (a pod with one core): pin to ``cpu``, size the thread pools to it, load the model,
    score shard ``shard`` of ``shards``."""
    os.sched_setaffinity(0, {cpu})
    from pulumi_mlops.runtime.cpus import limit_threads

    limit_threads()  # before the imports below load OpenMP and BLAS, as the mlops command does
    from pulumi_mlops.runtime.batch import run_batch
    from pulumi_mlops.runtime.registry.loading import LoadedModel

    with open(model_file, "rb") as handle:
        loaded = LoadedModel(**pickle.load(handle))
    run_batch(loaded, source, out, run_id=run_id, chunk_rows=CHUNK_ROWS, shard=shard, shards=shards)


def _own_cores(count: int) -> list[int] | None:
    """``count`` usable CPUs, one per process; None where this process may not use that many."""
    usable = sorted(os.sched_getaffinity(0))
    return usable[:count] if len(usable) >= count else None


def _processes(model_file: Path, source: Path, out: Path, run_id: str, shards: int, cores: list[int]) -> float:
    """Wall seconds of ``shards`` fresh processes, one per core of ``cores``, scoring one run together."""
    context = multiprocessing.get_context("spawn")
    start = time.perf_counter()
    procs = [
        context.Process(target=_shard, args=(str(model_file), str(source), str(out), run_id, i, shards, cores[i]))
        for i in range(shards)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join()
    if any(proc.exitcode != 0 for proc in procs):
        raise SystemExit(f"a shard process of run {run_id} failed: exit codes {[p.exitcode for p in procs]}")
    return time.perf_counter() - start


def _run() -> None:
    import pandas as pd
    from pulumi_mlops.runtime.batch import run_batch
    from pulumi_mlops.runtime.data import CATEGORICAL_FEATURES, NUMERIC_FEATURES, generate_churn
    from pulumi_mlops.runtime.registry.loading import LoadedModel
    from pulumi_mlops.runtime.registry.onnx_export import OnnxModel, export_onnx
    from pulumi_mlops.runtime.training.pipelines import build_pipeline

    features = [*NUMERIC_FEATURES, *CATEGORICAL_FEATURES]
    print(f"fitting gradient boosting on 20,000 rows; scoring {ROWS:,} rows on {THREADS} thread(s)", flush=True)
    train = generate_churn(20_000, seed=0)
    pipeline = build_pipeline("gradient_boosting", NUMERIC_FEATURES, CATEGORICAL_FEATURES, {}, 0)
    pipeline.fit(train[features], train["churned"])
    loaded = LoadedModel(model=pipeline, version="1", signature_columns=features, profile=None, name="bench")
    frame = generate_churn(ROWS, seed=1)

    with tempfile.TemporaryDirectory(prefix="mlops-bench-batch-") as tmp:
        source = Path(tmp) / "input.parquet"
        frame.to_parquet(source, index=False)
        plain_s = _best(lambda: pipeline.predict_proba(pd.read_parquet(source)[features]))
        runs = iter(range(REPEATS))
        batch_s = _best(
            lambda: run_batch(
                loaded, str(source), str(Path(tmp) / "out"), run_id=f"r{next(runs)}", chunk_rows=CHUNK_ROWS
            )
        )
        many = Path(tmp) / "many.parquet"
        generate_churn(SHARD_ROWS, seed=2).to_parquet(many, index=False)
        model_file = Path(tmp) / "model.pkl"
        fields = {"model": pipeline, "version": "1", "signature_columns": features, "profile": None, "name": "bench"}
        model_file.write_bytes(pickle.dumps(fields))
        ids = iter(range(4 * REPEATS))

        def in_process(shard: int, shards: int) -> float:
            out = str(Path(tmp) / "in")
            return _best(
                lambda: run_batch(
                    loaded, str(many), out, run_id=f"s{next(ids)}", chunk_rows=CHUNK_ROWS, shard=shard, shards=shards
                )
            )

        whole_s = in_process(0, 1)
        shard_s = max(in_process(0, 2), in_process(1, 2))
        shard_runs = iter(range(2 * REPEATS))
        cores = _own_cores(2)
        # Alternate the two so that a change of load on the machine hits both alike.
        one_s, two_s = float("inf"), float("inf")
        for _ in range(REPEATS if cores else 0):
            assert cores is not None
            one_s = min(one_s, _processes(model_file, many, Path(tmp) / "one", f"p{next(shard_runs)}", 1, cores))
            two_s = min(two_s, _processes(model_file, many, Path(tmp) / "two", f"p{next(shard_runs)}", 2, cores))

    report, payload = export_onnx(pipeline, frame.head(5000))
    if payload is None:
        raise SystemExit(f"ONNX export failed: {report.reason}")
    onnx_model = OnnxModel(payload, report.inputs, threads=THREADS)
    rows = frame[features].head(min(ROWS, 100_000))
    native_s = _best(lambda: pipeline.predict_proba(rows))
    onnx_s = _best(lambda: onnx_model.predict_proba(rows))

    result = {
        "rows": ROWS,
        "chunk_rows": CHUNK_ROWS,
        "plain_rows_per_s": ROWS / plain_s,
        "batch_rows_per_s": ROWS / batch_s,
        "batch_overhead_ratio": batch_s / plain_s,
        "native_vs_onnx_rows": len(rows),
        "native_rows_per_s": len(rows) / native_s,
        "onnx_rows_per_s": len(rows) / onnx_s,
        "onnx_speedup": native_s / onnx_s,
        "onnx_max_abs_diff": report.max_abs_diff,
        "shard_rows": SHARD_ROWS,
        "one_process_s": one_s if cores else None,
        "two_shards_s": two_s if cores else None,
        "shard_speedup": one_s / two_s if cores else None,
        "process_cores": 1,
        "whole_in_process_s": whole_s,
        "slower_shard_in_process_s": shard_s,
        "shard_bound": whole_s / shard_s,
        "threads": THREADS,
        "cpus": os.cpu_count(),
        "load_average_1m": os.getloadavg()[0],
    }
    print(f"{'path':<34}{'rows/s':>14}")
    print(f"{'plain read_parquet + predict_proba':<34}{result['plain_rows_per_s']:>14,.0f}")
    print(f"{'run_batch (chunks, checks, parts)':<34}{result['batch_rows_per_s']:>14,.0f}")
    print(f"{'native predict_proba':<34}{result['native_rows_per_s']:>14,.0f}")
    print(f"{'onnxruntime predict_proba':<34}{result['onnx_rows_per_s']:>14,.0f}")
    ratio = result["batch_overhead_ratio"]
    print(f"\nbatch overhead {ratio:.2f}x plain (target <= 1.3x: {'met' if ratio <= 1.3 else 'NOT met'})")
    print(f"onnx {result['onnx_speedup']:.2f}x native; max |diff| {report.max_abs_diff:.1e}")
    if cores:
        print(
            f"two shard processes {result['shard_speedup']:.2f}x one process, one core each ({one_s:.1f} s -> "
            f"{two_s:.1f} s; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)"
        )
    else:
        print("two shard processes: not measured, this process may use fewer than two CPUs")
    print(
        f"one shard of two does {1 / result['shard_bound']:.2f} of the run's work (bound {result['shard_bound']:.2f}x)"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")

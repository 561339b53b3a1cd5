"""Drift detection: this detector against Evidently's DataDriftPreset on the same synthetic data.

Data: ``rows`` reference rows and ``rows`` current rows of 50 columns (40 numeric of four shapes,
10 categorical strings), 13 of them shifted (10 numeric, 3 categorical). Sizes: 100k and 1M rows
(``DRIFT_BENCH_ROWS=100000,1000000`` to change).

Measured for this detector: profile build time (once per model, at training), and the detection
time given the profile: ``detect_drift`` on the current DataFrame, every test on every column,
excluding data generation and report rendering (timed separately); and the same with
``ks_for_all=False``, which skips KS (and its exact-distribution p-value) on the features a
distance decides, the work Evidently's preset does. Peak memory is the rise of the
process's peak RSS over its RSS before the call (``/proc/self/clear_refs``), and tracemalloc's peak.

Evidently runs in a subprocess of its own environment, which :func:`bench.peers.peer_python` creates from
the pinned ``bench/peers/evidently.txt`` on first use (never a dependency of this project;
``EVIDENTLY_PYTHON`` names another interpreter), regenerates the same data from the same seed and reports its
time, memory and per-column scores. It is skipped at sizes where the run measured at the smallest size
predicts more than ``EVIDENTLY_MAX_SECONDS`` (120).

Targets, checked and recorded: at 100k rows, detection with the statistics Evidently computes
(``ks_for_all=False``) at least 150x faster than Evidently; at 1M rows at most 1.0 s, with the peak RSS rise
under twice the size of the current data.

Agreement: for the test that decides each column (normalized Wasserstein for numeric, Jensen-Shannon
for categorical; both tools choose these for references over 1000 rows), the largest absolute
difference of the scores and the share of columns with the same verdict. Both take the Jensen-Shannon distance
with the natural logarithm. Our Wasserstein uses the profile's 5,000-value reference sample; Evidently uses the
whole reference.

Results go to ``bench/results/drift.json``, with versions and the machine.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["main", "make_data"]

NUMERIC = 40
CATEGORICAL = 10
SHIFTED_NUMERIC = (0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.5)
SHIFTED_CATEGORICAL = 3
RESULTS = Path(__file__).resolve().parent / "results" / "drift.json"
SPEEDUP_TARGET = 150.0
SECONDS_AT_1M = 1.0


def make_data(rows: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, list[str], list[str], list[str]]:
    """Reference and current frames, numeric and categorical column names, and the shifted columns."""
    rng = np.random.default_rng(seed)
    ref: dict[str, Any] = {}
    cur: dict[str, Any] = {}
    numeric = [f"num_{i:02d}" for i in range(NUMERIC)]
    categorical = [f"cat_{i}" for i in range(CATEGORICAL)]
    shifted: list[str] = []
    for i, name in enumerate(numeric):
        shape = i % 4
        draw: Callable[[int], np.ndarray]
        if shape == 0:
            mu, sigma = rng.uniform(-50, 50), rng.uniform(1, 20)
            draw, std = (lambda k, mu=mu, sigma=sigma: rng.normal(mu, sigma, k)), sigma
        elif shape == 1:
            s = rng.uniform(0.3, 1.0)
            draw = lambda k, s=s: rng.lognormal(3.0, s, k)  # noqa: E731
            std = math.sqrt((math.exp(s * s) - 1) * math.exp(6.0 + s * s))
        elif shape == 2:
            hi = rng.uniform(1, 100)
            draw, std = (lambda k, hi=hi: rng.uniform(0, hi, k)), hi / math.sqrt(12)
        else:
            hi = int(rng.integers(20, 200))
            draw, std = (lambda k, hi=hi: rng.integers(0, hi, k)), hi / math.sqrt(12)
        ref[name] = draw(rows)
        values = draw(rows)
        if i < len(SHIFTED_NUMERIC):
            delta = SHIFTED_NUMERIC[i] * std
            values = values + (round(delta) if shape == 3 else delta)
            shifted.append(name)
        cur[name] = values
    for i, name in enumerate(categorical):
        k = 5 + i
        labels = np.array([f"{name}_v{j}" for j in range(k)], dtype=object)
        p = rng.dirichlet(np.full(k, 2.0))
        q = 0.5 * p + 0.5 * rng.dirichlet(np.full(k, 2.0)) if i < SHIFTED_CATEGORICAL else p
        ref[name] = pd.Categorical.from_codes(rng.choice(k, rows, p=p), categories=labels).astype(object)
        cur[name] = pd.Categorical.from_codes(rng.choice(k, rows, p=q), categories=labels).astype(object)
        if i < SHIFTED_CATEGORICAL:
            shifted.append(name)
    return pd.DataFrame(ref), pd.DataFrame(cur), numeric, categorical, shifted


def _checksum(frame: pd.DataFrame, numeric: list[str]) -> float:
    return float(frame[numeric].to_numpy(dtype=np.float64).sum())


def _reset_peak() -> int | None:
    """Reset the peak-RSS mark and return the current RSS in bytes (None where Linux /proc is absent)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return _status_kib("VmRSS") * 1024
    except OSError:
        return None


def _status_kib(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise OSError(f"{key} not in /proc/self/status")


def _peak_rise(before: int | None) -> int | None:
    if before is None:
        return None
    try:
        return max(_status_kib("VmHWM") * 1024 - before, 0)
    except OSError:
        return None


def _mib(value: int | None) -> str:
    return "n/a" if value is None else f"{value / 2**20:.0f} MiB"


def _ours(rows: int) -> dict[str, Any]:
    from pulumi_mlops.runtime.drift import build_profile, detect_drift
    from pulumi_mlops.runtime.drift.html import render_html

    ref, cur, numeric, categorical, shifted = make_data(rows)
    started = time.perf_counter()
    profile = build_profile(ref, None, categorical)
    build_s = time.perf_counter() - started
    del ref
    runs = 5 if rows <= 200_000 else 3
    times = []
    report = None
    for i in range(runs):
        before = _reset_peak() if i == 0 else None
        started = time.perf_counter()
        report = detect_drift(profile, cur)
        times.append(time.perf_counter() - started)
        if i == 0:
            rss_rise = _peak_rise(before)
    assert report is not None
    lean = []
    for i in range(runs):
        before = _reset_peak() if i == 0 else None
        started = time.perf_counter()
        detect_drift(profile, cur, ks_for_all=False)
        lean.append(time.perf_counter() - started)
        if i == 0:
            lean_rss_rise = _peak_rise(before)
    started = time.perf_counter()
    report.model_dump_json()
    render_html(report)
    render_s = time.perf_counter() - started
    tracemalloc.start()
    detect_drift(profile, cur)
    traced_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    scores = {f.name: {"test": f.test, "score": f.statistic, "drifted": f.drifted} for f in report.features}
    return {
        "rows": rows,
        "profile_build_s": build_s,
        "detect_s_first": times[0],
        "detect_s_median": statistics.median(times),
        "detect_s_best": min(times),
        "detect_runs": runs,
        "detect_without_ks_elsewhere_s_median": statistics.median(lean),
        "detect_without_ks_elsewhere_s_best": min(lean),
        "report_render_s": render_s,
        "peak_rss_rise_bytes": rss_rise,
        "peak_rss_rise_without_ks_elsewhere_bytes": lean_rss_rise,
        "current_data_bytes": int(cur.memory_usage(deep=True).sum()),
        "tracemalloc_peak_bytes": traced_peak,
        "drifted_columns": sorted(n for n, s in scores.items() if s["drifted"]),
        "shifted_columns": shifted,
        "dataset_drift": report.dataset_drift,
        "checksum": _checksum(cur, numeric),
        "columns": scores,
    }


def _evidently_worker(rows: int, out: str) -> None:
    """Runs inside the Evidently interpreter: time DataDriftPreset on the same data."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    ref, cur, numeric, categorical, _ = make_data(rows)
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    before = _reset_peak()
    started = time.perf_counter()
    snapshot = Report([DataDriftPreset()]).run(
        current_data=Dataset.from_pandas(cur, data_definition=definition),
        reference_data=Dataset.from_pandas(ref, data_definition=definition),
    )
    elapsed = time.perf_counter() - started
    rise = _peak_rise(before)
    columns: dict[str, dict[str, Any]] = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if not str(config.get("type", "")).endswith("ValueDrift"):
            continue
        method, threshold, value = config["method"], float(config["threshold"]), float(metric["value"])
        pvalue = "p_value" in method.lower() or ("test" in method.lower() and "distance" not in method.lower())
        drifted = value < threshold if pvalue else value >= threshold
        columns[config["column"]] = {"method": method, "score": value, "threshold": threshold, "drifted": drifted}
    import evidently

    Path(out).write_text(
        json.dumps(
            {
                "version": getattr(evidently, "__version__", "unknown"),
                "seconds": elapsed,
                "peak_rss_rise_bytes": rise,
                "checksum": _checksum(cur, numeric),
                "columns": columns,
            }
        )
    )


def _evidently(rows: int, python: str) -> dict[str, Any] | None:
    with tempfile.TemporaryDirectory(prefix="drift-bench-") as tmp:
        out = Path(tmp) / "evidently.json"
        done = subprocess.run(
            [python, str(Path(__file__).resolve()), "--evidently-worker", str(rows), str(out)],
            capture_output=True,
            text=True,
            timeout=1800,
        )
        if done.returncode != 0 or not out.exists():
            print(f"  evidently failed (exit {done.returncode}): {done.stderr.strip()[-800:]}")
            return None
        result: dict[str, Any] = json.loads(out.read_text())
        return result


def _agreement(ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, Any]:
    diffs: dict[str, float] = {}
    same = 0
    disagree = []
    for name, mine in ours["columns"].items():
        other = theirs["columns"].get(name)
        if other is None:
            continue
        diffs[name] = abs(mine["score"] - other["score"])
        if mine["drifted"] == other["drifted"]:
            same += 1
        else:
            disagree.append(name)
    numeric = [d for n, d in diffs.items() if n.startswith("num_")]
    categorical = [d for n, d in diffs.items() if n.startswith("cat_")]
    return {
        "columns_compared": len(diffs),
        "verdicts_agree": same,
        "verdicts_disagree": sorted(disagree),
        "max_abs_diff_wasserstein": max(numeric, default=None),
        "max_abs_diff_jensen_shannon": max(categorical, default=None),
        "same_data": math.isclose(ours["checksum"], theirs["checksum"], rel_tol=1e-12),
    }


def _targets(runs: list[dict[str, Any]]) -> dict[str, bool | None]:
    by_rows = {run["rows"]: run for run in runs}
    small, large = by_rows.get(100_000), by_rows.get(1_000_000)
    speedup = small.get("speedup_same_statistics") if small else None
    targets: dict[str, bool | None] = {
        f">= {SPEEDUP_TARGET:.0f}x Evidently at 100k rows (same statistics)": None
        if speedup is None
        else (speedup >= SPEEDUP_TARGET),
    }
    if large is not None:
        ours = large["ours"]
        targets[f"<= {SECONDS_AT_1M:g} s at 1M rows (same statistics)"] = (
            ours["detect_without_ks_elsewhere_s_median"] <= SECONDS_AT_1M
        )
        rise = ours["peak_rss_rise_without_ks_elsewhere_bytes"]
        targets["peak RSS rise < 2x the data at 1M rows"] = (
            None if rise is None else rise < 2 * ours["current_data_bytes"]
        )
    return targets


def main() -> None:
    from bench.peers import peer_python, peer_versions
    from bench.timing import machine, versions

    sizes = [int(s) for s in os.environ.get("DRIFT_BENCH_ROWS", "100000,1000000").split(",") if s.strip()]
    limit = float(os.environ.get("EVIDENTLY_MAX_SECONDS", "120"))
    interpreter = peer_python("evidently")
    peer = interpreter is not None
    python = str(interpreter)
    if not peer:
        print("Evidently peer unavailable; timing ours only")
    results: dict[str, Any] = {
        "machine": machine(),
        "versions": versions("pulumi-mlops", "numpy", "pandas", "scipy")
        | (
            {f"evidently peer: {k}": v for k, v in peer_versions(interpreter, "evidently").items()}
            if interpreter is not None
            else {}
        ),
        "columns": NUMERIC + CATEGORICAL,
        "shifted": 13,
        "runs": [],
    }
    seconds_per_row: float | None = None
    for rows in sizes:
        print(f"\n{rows:,} rows x {NUMERIC + CATEGORICAL} columns (reference and current each)")
        ours = _ours(rows)
        print(
            f"  ours      profile build {ours['profile_build_s']:.3f} s (once, at training)\n"
            f"  ours      detect {ours['detect_s_median']:.3f} s median of {ours['detect_runs']} "
            f"(first {ours['detect_s_first']:.3f} s, best {ours['detect_s_best']:.3f} s); "
            f"JSON+HTML {ours['report_render_s']:.3f} s\n"
            f"  ours      detect with KS only where it decides (ks_for_all=False) "
            f"{ours['detect_without_ks_elsewhere_s_median']:.3f} s median "
            f"(best {ours['detect_without_ks_elsewhere_s_best']:.3f} s)\n"
            f"  ours      peak RSS rise {_mib(ours['peak_rss_rise_bytes'])} "
            f"({_mib(ours['peak_rss_rise_without_ks_elsewhere_bytes'])} with the same statistics; the data "
            f"{_mib(ours['current_data_bytes'])}), "
            f"tracemalloc peak {_mib(ours['tracemalloc_peak_bytes'])}; "
            f"drifted {len(ours['drifted_columns'])} of 13 shifted"
            f"{'' if set(ours['drifted_columns']) == set(ours['shifted_columns']) else ' (verdicts differ)'}"
        )
        run: dict[str, Any] = {"rows": rows, "ours": {k: v for k, v in ours.items() if k != "columns"}}
        theirs = None
        if peer:
            predicted = seconds_per_row * rows if seconds_per_row else None
            if predicted is not None and predicted > limit:
                print(f"  evidently skipped: predicted {predicted:.0f} s from the smaller run (> {limit:.0f} s)")
                run["evidently"] = {"skipped": f"predicted {predicted:.0f} s > {limit:.0f} s"}
            else:
                theirs = _evidently(rows, python)
        if theirs is not None:
            seconds_per_row = theirs["seconds"] / rows
            agree = _agreement(ours, theirs)
            print(
                f"  evidently {theirs['version']} DataDriftPreset {theirs['seconds']:.2f} s, "
                f"peak RSS rise {_mib(theirs['peak_rss_rise_bytes'])}\n"
                f"  speed-up  {theirs['seconds'] / ours['detect_s_median']:.0f}x (median detect time, every test), "
                f"{theirs['seconds'] / ours['detect_without_ks_elsewhere_s_median']:.0f}x with the same statistics\n"
                f"  agreement {agree['verdicts_agree']}/{agree['columns_compared']} verdicts"
                f"{' (differ: ' + ', '.join(agree['verdicts_disagree']) + ')' if agree['verdicts_disagree'] else ''}; "
                f"max |diff| Wasserstein {agree['max_abs_diff_wasserstein']:.2e}, "
                f"Jensen-Shannon {agree['max_abs_diff_jensen_shannon']:.2e}; "
                f"same data {agree['same_data']}"
            )
            run["evidently"] = {k: v for k, v in theirs.items() if k != "columns"}
            run["agreement"] = agree
            run["speedup_every_test"] = theirs["seconds"] / ours["detect_s_median"]
            run["speedup_same_statistics"] = theirs["seconds"] / ours["detect_without_ks_elsewhere_s_median"]
        results["runs"].append(run)
    results["targets"] = _targets(results["runs"])
    for name, met in results["targets"].items():
        print(f"{'n/a' if met is None else 'met' if met else 'NOT met':<8} {name}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1))
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--evidently-worker":
        _evidently_worker(int(sys.argv[2]), sys.argv[3])
    else:
        main()

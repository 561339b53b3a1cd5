"""AutoML: ``estimator: auto`` against FLAML's AutoML under the same time budget, and two search workers against one.

- ``datasets``: scikit-learn's breast_cancer (binary), wine and digits (multiclass), diabetes (regression) and the
  churn generator (binary, with categorical columns). Each is split once, seeded (80 % train, 20 % holdout,
  stratified for classifiers), and both sides get the same rows. Ours runs :func:`search_hyperparameters` with
  ``auto`` (a cap of 1000 trials, so the budget binds) and refits the winner on the train rows; FLAML runs
  ``AutoML.fit(time_budget=...)`` on its default estimators in its own environment (``bench/peers/flaml.txt``,
  :func:`bench.peers.peer_python`), in a subprocess. Both run single-threaded. The holdout score (AUC, macro F1,
  R²) is computed here by this project's metrics from each side's predictions; the winner's single-row predict
  latency is the median of ``AUTOML_BENCH_LATENCY_CALLS`` calls on one holdout row, in each side's process.
- ``workers``: the same search (``auto``, ``AUTOML_BENCH_WORKER_TRIALS`` trials on ``AUTOML_BENCH_WORKER_ROWS``
  generated churn rows) as one ``mlops train`` process and as two sharing a journal-file study
  (``JOB_COMPLETION_INDEX`` 0 and 1), each worker with one core of its own as a pod has its CPU limit (pinned to
  one CPU, ``MLOPS_CPUS=1``); best of ``AUTOML_BENCH_WORKER_REPEATS`` (default 2) runs of each, alternated. The
  speed-up is the ratio of their wall times, end to end (imports, data, refit included) and over the search
  alone (first trial start to last trial end). Two workers sample different trials, whose costs differ, so the
  run also records the trial-seconds each search did per second of search (``parallelism``: 1 for one worker,
  at most 2 for two). It needs two usable cores (else it is not measured); the load average is recorded.

``AUTOML_BENCH_BUDGET_S`` (default 30) is each side's budget per dataset. FLAML that does not install is reported
and skipped. Results, with versions and machine facts, go to ``bench/results/automl.json``.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .peers import peer_python, peer_versions

__all__ = ["main"]

RESULTS = Path(__file__).resolve().parent / "results" / "automl.json"
BUDGET_S = float(os.environ.get("AUTOML_BENCH_BUDGET_S", "30"))
LATENCY_CALLS = int(os.environ.get("AUTOML_BENCH_LATENCY_CALLS", "50"))
WORKER_TRIALS = int(os.environ.get("AUTOML_BENCH_WORKER_TRIALS", "24"))
WORKER_ROWS = int(os.environ.get("AUTOML_BENCH_WORKER_ROWS", "30000"))
WORKER_REPEATS = int(os.environ.get("AUTOML_BENCH_WORKER_REPEATS", "2"))
SEED = 7
SINGLE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
FLAML_METRIC = {"binary": "roc_auc", "multiclass": "macro_f1", "regression": "r2"}

FLAML_SCRIPT = """
import json, statistics, sys, time
import pandas as pd
from flaml import AutoML

train_path, holdout_path, label, task, metric, budget, seed, calls, out = sys.argv[1:]
train, holdout = pd.read_parquet(train_path), pd.read_parquet(holdout_path)
x, y = train.drop(columns=[label]), train[label]
features = holdout.drop(columns=[label])
automl = AutoML()
start = time.perf_counter()
automl.fit(x, y, task="regression" if task == "regression" else "classification", metric=metric,
           time_budget=float(budget), seed=int(seed), n_jobs=1, verbose=0)
elapsed = time.perf_counter() - start
predict = automl.predict if task == "regression" else automl.predict_proba
row = features.iloc[:1]
predict(row)
times = []
for _ in range(int(calls)):
    t = time.perf_counter(); predict(row); times.append(time.perf_counter() - t)
output = predict(features)
classes = getattr(automl, "classes_", None)
json.dump({"elapsed_s": elapsed, "winner": automl.best_estimator, "predict_ms": 1000 * statistics.median(times),
           "predictions": output.tolist(), "classes": [] if classes is None else [c.item() for c in classes]},
          open(out, "w"))
"""


def _datasets() -> dict[str, tuple[Any, str]]:
    from pulumi_mlops.runtime.data import generate_churn
    from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_wine

    churn = generate_churn(5000, seed=SEED).drop(columns=["customer_id", "event_timestamp"])
    digits = load_digits(as_frame=True).frame
    digits.columns = [str(c).replace("-", "_") for c in digits.columns]
    return {
        "breast_cancer": (load_breast_cancer(as_frame=True).frame, "target"),
        "wine": (load_wine(as_frame=True).frame, "target"),
        "digits": (digits, "target"),
        "diabetes": (load_diabetes(as_frame=True).frame, "target"),
        "churn": (churn, "churned"),
    }


def _split(frame: Any, label: str, task: str) -> tuple[Any, Any]:
    from sklearn.model_selection import train_test_split

    stratify = frame[label] if task != "regression" else None
    return train_test_split(frame, test_size=0.2, random_state=SEED, stratify=stratify)


def _latency_ms(predict: Any, row: Any) -> float:
    predict(row)
    times = []
    for _ in range(LATENCY_CALLS):
        start = time.perf_counter()
        predict(row)
        times.append(time.perf_counter() - start)
    return 1000.0 * statistics.median(times)


def _score(task: str, metric: str, labels: Any, predictions: Any, classes: Any) -> float:
    import numpy as np
    from pulumi_mlops.runtime.training.evaluation import evaluate_multiclass, evaluate_probabilities
    from pulumi_mlops.runtime.training.evaluation import evaluate_regression as regression

    values = np.asarray(predictions, dtype=float)
    if task == "regression":
        return regression(labels, values)[metric]
    if task == "binary":
        return evaluate_probabilities((np.asarray(labels) == classes[1]).astype(int), values[:, 1])[metric]
    return evaluate_multiclass(labels, values, np.asarray(classes))[metric]


def _ours(name: str, train: Any, holdout: Any, label: str) -> dict[str, Any]:
    from pulumi_mlops.runtime.config import ModelRef, TrainingSpec
    from pulumi_mlops.runtime.training import build_model, prepare_training_data, resolve_estimator
    from pulumi_mlops.runtime.training import search_hyperparameters as search

    spec = TrainingSpec(model=ModelRef(name=name.replace("_", "-")), data=f"{name}.csv", label=label)
    prepared = prepare_training_data(spec, train)
    task, features, metric = prepared.task.task, prepared.features, prepared.promotion_metric
    start = time.perf_counter()
    result = search(
        "auto", train[features], train[label].to_numpy(), prepared.numeric, prepared.categorical, base_params={},
        trials=1000, timeout_s=BUDGET_S, seed=SEED, task=task, metric=metric,
    )  # fmt: skip
    entry = resolve_estimator(result.family)
    params = {**entry.defaults_for(task), **result.best_params}
    model = build_model(entry, prepared.numeric, prepared.categorical, params, SEED, task)
    model.fit(train[features], train[label].to_numpy())
    elapsed = time.perf_counter() - start
    x = holdout[features]
    predictions = model.predict(x) if task == "regression" else model.predict_proba(x)
    classes = list(getattr(model, "classes_", []))
    predict = model.predict if task == "regression" else model.predict_proba
    return {
        "task": task, "metric": metric,
        "holdout": _score(task, metric, holdout[label].to_numpy(), predictions, classes),
        "elapsed_s": round(elapsed, 2), "winner": result.family, "trials": result.trials, "pruned": result.pruned,
        "predict_ms": round(_latency_ms(predict, x.iloc[:1]), 3),
    }  # fmt: skip


def _flaml(python: Path, train: Any, holdout: Any, label: str, task: str, metric: str, tmp: Path) -> dict[str, Any]:
    train.to_parquet(tmp / "train.parquet", index=False)
    holdout.to_parquet(tmp / "holdout.parquet", index=False)
    (tmp / "flaml_run.py").write_text(FLAML_SCRIPT)
    out = tmp / "flaml.json"
    args = [str(tmp / "train.parquet"), str(tmp / "holdout.parquet"), label, task, FLAML_METRIC[task]]
    args += [str(BUDGET_S), str(SEED), str(LATENCY_CALLS), str(out)]
    env = {**os.environ, **SINGLE_THREAD}
    subprocess.run([str(python), str(tmp / "flaml_run.py"), *args], check=True, env=env, timeout=BUDGET_S * 10 + 300)
    found = json.loads(out.read_text())
    classes = found["classes"] or (sorted(holdout[label].unique()) if task != "regression" else [])
    return {
        "holdout": _score(task, metric, holdout[label].to_numpy(), found["predictions"], classes),
        "elapsed_s": round(found["elapsed_s"], 2), "winner": found["winner"],
        "predict_ms": round(found["predict_ms"], 3),
    }  # fmt: skip


def _workers(count: int, tmp: Path, cores: list[int], run: int) -> dict[str, Any]:
    import optuna
    from pulumi_mlops.runtime.config import ModelRef, TrainingSpec
    from pulumi_mlops.runtime.training.search_study import open_storage

    spec = TrainingSpec(
        model=ModelRef(name="churn-workers"), data=f"generated://churn?rows={WORKER_ROWS}", search_trials=WORKER_TRIALS,
        search_workers=count, search_timeout_s=1800, explain=False, seed=SEED,
    )  # fmt: skip
    folder = tmp / f"workers-{count}-{run}"
    folder.mkdir()
    (folder / "spec.json").write_text(spec.model_dump_json())
    storage = f"journal:{folder / 'search.log'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")} | SINGLE_THREAD
    env |= {"MLOPS_HOME": str(folder / "home"), "MLOPS_SEARCH_STORAGE": storage, "MLOPS_SEARCH_STUDY": "bench"}
    env |= {"MLOPS_CPUS": "1"}
    command = [sys.executable, "-m", "pulumi_mlops", "train", "--spec", str(folder / "spec.json"), "--no-register"]
    start = time.perf_counter()
    processes = []
    for i in range(count):
        process = subprocess.Popen(command, env=env | {"JOB_COMPLETION_INDEX": str(i)}, stdout=subprocess.DEVNULL)
        os.sched_setaffinity(process.pid, {cores[i]})  # the interpreter is still starting: nothing has loaded yet
        processes.append(process)
    codes = [p.wait(timeout=3600) for p in processes]
    elapsed = time.perf_counter() - start
    if any(codes):
        raise RuntimeError(f"search workers exited with {codes}")
    study = optuna.load_study(study_name="bench", storage=open_storage(storage))
    finished = [t for t in study.trials if t.state.name in ("COMPLETE", "PRUNED")]
    per_worker = [sum(t.user_attrs.get("worker") == i for t in finished) for i in range(count)]
    ends = [t.datetime_complete for t in finished if t.datetime_complete is not None]
    starts = [t.datetime_start for t in finished if t.datetime_start is not None]
    span = (max(ends) - min(starts)).total_seconds()
    busy = sum(
        (t.datetime_complete - t.datetime_start).total_seconds()
        for t in finished
        if t.datetime_complete is not None and t.datetime_start is not None
    )
    return {
        "wall_s": round(elapsed, 2), "search_s": round(span, 2), "trial_seconds": round(busy, 2),
        "parallelism": round(busy / span, 2), "trials": len(finished), "trials_per_worker": per_worker,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }  # fmt: skip


def _scale_out(tmp: Path) -> dict[str, Any] | None:
    """One worker against two, each on a core of its own, best of ``WORKER_REPEATS`` alternated runs."""
    usable = sorted(os.sched_getaffinity(0))
    if len(usable) < 2:
        print("search workers: not measured, this process may use fewer than two CPUs", flush=True)
        return None
    ones, twos = [], []
    for run in range(WORKER_REPEATS):
        ones.append(_workers(1, tmp, usable, run))
        twos.append(_workers(2, tmp, usable, run))
    one, two = min(ones, key=lambda r: r["wall_s"]), min(twos, key=lambda r: r["wall_s"])
    speedup, search_speedup = one["wall_s"] / two["wall_s"], one["search_s"] / two["search_s"]
    print(
        f"search workers, one core each: one {one['wall_s']:.1f} s ({one['search_s']:.1f} s searching), two "
        f"{two['wall_s']:.1f} s ({two['search_s']:.1f} s searching): {speedup:.2f}x end to end, "
        f"{search_speedup:.2f}x searching, parallelism {two['parallelism']:.2f} "
        f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)",
        flush=True,
    )
    return {
        "trials": WORKER_TRIALS, "rows": WORKER_ROWS, "repeats": WORKER_REPEATS, "cores_per_worker": 1,
        "one": one, "two": two, "runs": {"one": ones, "two": twos},
        "speedup": round(speedup, 2), "search_speedup": round(search_speedup, 2),
    }  # fmt: skip


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    return {p: version(p) for p in ("pulumi-mlops", "optuna", "scikit-learn", "torch", "numpy", "pandas")}


def main() -> None:
    from threadpoolctl import threadpool_limits

    os.environ.update(SINGLE_THREAD)
    import torch

    torch.set_num_threads(1)
    python = peer_python("flaml")
    rows: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        for name, (frame, label) in _datasets().items():
            task = "regression" if name == "diabetes" else ("binary" if frame[label].nunique() == 2 else "multiclass")
            train, holdout = _split(frame, label, task)
            with threadpool_limits(1):
                ours = _ours(name, train, holdout, label)
            entry: dict[str, Any] = {"rows": len(frame), "train_rows": len(train), "holdout_rows": len(holdout)}
            entry["ours"] = ours
            if python is not None:
                entry["flaml"] = _flaml(python, train, holdout, label, ours["task"], ours["metric"], tmp)
            rows[name] = entry
            flaml = entry.get("flaml")
            versus = f"FLAML {flaml['holdout']:.4f} ({flaml['winner']}, {flaml['predict_ms']:.2f} ms)" if flaml else ""
            print(
                f"{name}: holdout {ours['metric']} ours {ours['holdout']:.4f} ({ours['winner']}, {ours['trials']} "
                f"trials, {ours['pruned']} pruned, {ours['predict_ms']:.2f} ms) {versus}",
                flush=True,
            )
        workers = _scale_out(tmp)
    results = {
        "budget_s": BUDGET_S,
        "seed": SEED,
        "datasets": rows,
        "workers": workers,
        "versions": _versions(),
        "flaml_versions": peer_versions(python, "flaml", "lightgbm", "xgboost", "scikit-learn") if python else None,
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))

"""The pods of a sharded batch Job, as local processes: the command the graph gives them, one killed midway.

Each shard runs ``batch_command(job)`` (the container's argv in the graph) with the env the pod gets:
``JOB_COMPLETION_INDEX`` (Kubernetes) and ``JOB_NAME`` (the downward API's job-name label), against a model
registered in a local store. The same run is also driven through :func:`run_batch_shard`, the function a Ray
task or Spark partition would call.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
from pulumi_mlops.components.k8s.batch import JOB_NAME_ENV, batch_command
from pulumi_mlops.components.k8s.runtime_config import SPEC_FILE
from pulumi_mlops.runtime.batch import MANIFEST_NAME, BatchManifest, run_batch_shard, shard_manifest_name
from pulumi_mlops.runtime.config import ModelRef, RuntimeSettings, TrainingSpec
from pulumi_mlops.runtime.data import generate_churn
from typer.testing import CliRunner

from pulumi_mlops.cli import app
from pulumi_mlops.local import expand, process_env
from pulumi_mlops.spec import BatchJobSpec

MODEL = "batch-shards"
JOB = "batch-churn-nightly-29312345"
"""The Job's name: what every pod of one scheduled run (and every retry of one) gets as the run id."""


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local store with a registered model (its challenger alias)."""
    from pulumi_mlops.runtime.training import train

    root = tmp_path_factory.mktemp("registry")
    spec = TrainingSpec(model=ModelRef(name=MODEL), estimator="logistic_regression", data="generated://churn?rows=600")
    train(spec, RuntimeSettings(home=str(root)))
    return root


def _job(source: Path, out: Path, chunk_rows: int) -> BatchJobSpec:
    return BatchJobSpec.model_validate(
        {
            "name": "churn-nightly",
            "shards": 2,
            "batch": {
                "model": {"name": MODEL, "alias": "challenger"},
                "input": str(source),
                "output": str(out),
                "chunk_rows": chunk_rows,
            },
        }
    )


def _pod(job: BatchJobSpec, spec_file: Path, home: Path, index: int) -> tuple[list[str], dict[str, str]]:
    """The argv and env of pod ``index``, as the kubelet builds them, with the mounted spec file made local."""
    env = {
        "HOME": str(home),
        "MLOPS_HOME": str(home),
        "OMP_NUM_THREADS": "1",
        JOB_NAME_ENV: JOB,
        "JOB_COMPLETION_INDEX": str(index),
    }
    argv = [expand(a, env).replace(SPEC_FILE, str(spec_file)) for a in batch_command(job)]
    return argv, process_env(env, {})


def _committed(path: Path) -> int:
    try:
        return len(json.loads(path.read_text())["chunks"])
    except (OSError, ValueError, KeyError):
        return 0


def test_a_killed_shard_pod_resumes_and_the_run_has_every_row_once(home: Path, tmp_path: Path) -> None:
    rows = 40_000
    source = tmp_path / "customers.parquet"
    generate_churn(rows, seed=5, id_offset=7_000_000).drop(columns=["churned"]).to_parquet(source, index=False)
    out = tmp_path / "scores"
    job = _job(source, out, chunk_rows=200)
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(job.resolve({}).model_dump_json())
    folder = out / f"run_id={JOB}"
    victim_manifest = folder / shard_manifest_name(0)

    pods = [_pod(job, spec_file, home, index) for index in (0, 1)]
    assert pods[0][0][:5] == ["mlops", "batch-predict", "--spec", str(spec_file), "--run-id"]
    victim = subprocess.Popen(pods[0][0], env=pods[0][1], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    other = subprocess.Popen(pods[1][0], env=pods[1][1], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while _committed(victim_manifest) == 0 and victim.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(timeout=60)
    assert victim.returncode == -signal.SIGKILL
    killed = BatchManifest.model_validate_json(victim_manifest.read_text())
    assert killed.status == "running" and 0 < len(killed.chunks) < rows // 200 // 2, "killed midway"
    output, _ = other.communicate(timeout=300)
    assert other.returncode == 0, output.decode()
    assert "the run completes with shard(s) 0" in " ".join(output.decode().split())
    assert not (folder / MANIFEST_NAME).exists(), "not complete while shard 0 is not"

    # The Job retries pod 0: same Job name, same index.
    retry = subprocess.run(pods[0][0], env=pods[0][1], capture_output=True, text=True, timeout=300, check=False)
    assert retry.returncode == 0, retry.stdout + retry.stderr
    said = " ".join(retry.stdout.split())
    assert f"resumed run {JOB} shard 0/2: skipped {len(killed.chunks)} completed chunk(s)" in said
    assert f"every shard of run {JOB} is complete" in said

    run = BatchManifest.model_validate_json((folder / MANIFEST_NAME).read_text())
    assert run.status == "complete" and [s.index for s in run.shard_runs] == [0, 1]
    assert [s.attempts for s in run.shard_runs] == [2, 1] and all(s.finished_at for s in run.shard_runs)
    assert [c.index for c in run.chunks] == list(range(rows // 200))
    scored = pd.concat([pd.read_parquet(folder / str(c.part)) for c in run.chunks], ignore_index=True)
    ids = pd.read_parquet(source, columns=["customer_id"])["customer_id"]
    assert len(scored) == rows and scored["customer_id"].is_unique
    assert set(scored["customer_id"]) == set(ids), "every input row exactly once"
    assert sorted(p.name for p in folder.glob("part-*.parquet")) == sorted(str(c.part) for c in run.chunks)
    assert set(scored["batch_run_id"]) == {JOB}


def test_run_batch_shard_is_the_pods_entry_point(home: Path, tmp_path: Path) -> None:
    source = tmp_path / "in"
    source.mkdir()
    for i in range(3):
        generate_churn(300, seed=i, id_offset=100_000 * (i + 1)).to_parquet(source / f"{i}.parquet", index=False)
    spec = _job(source, tmp_path / "out", chunk_rows=128).resolve({})
    settings = RuntimeSettings(home=str(home))
    with pytest.raises(ValueError, match="needs --run-id, the same for every shard"):
        run_batch_shard(spec, 0, settings=settings, model_version="challenger")
    # One task per shard, as a Ray or Spark job would fan them out (here one after the other).
    first = run_batch_shard(spec, 0, run_id="fan-out", settings=settings)
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(spec.model_dump_json())
    finalize = ["batch-predict", "--spec", str(spec_file), "--run-id", "fan-out", "--finalize"]
    early = CliRunner().invoke(app, finalize, env={"MLOPS_HOME": str(home)})
    assert early.exit_code == 2 and "shard(s) 1 of 2 are not complete" in " ".join(early.output.split())
    results = [first, run_batch_shard(spec, 1, run_id="fan-out", settings=settings)]
    assert [r.complete for r in results] == [False, True]
    done = CliRunner().invoke(app, finalize, env={"MLOPS_HOME": str(home)})
    assert done.exit_code == 0 and f"{MODEL} v1: 900 rows in, 900 scored, 0 rejected" in done.output, done.output
    run = results[-1].run
    assert run is not None and run.rows_out == 900 and run.model == MODEL
    assert sorted(i for s in run.shard_runs for i in s.chunks) == [c.index for c in run.chunks]

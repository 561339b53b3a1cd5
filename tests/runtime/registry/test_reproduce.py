"""``mlops reproduce``: a registered version retrained from its pinned inputs, spec and seed, and compared."""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pulumi_mlops.runtime.config import ModelRef, RuntimeSettings, TrainingSpec
from pulumi_mlops.runtime.data import DATA_VERSIONS_TAG, dataset_digest, generate_churn, load_frame
from pulumi_mlops.runtime.registry import list_versions, mlflow_client
from pulumi_mlops.runtime.registry.reproduce import REPRODUCES_TAG, compare_outputs, reproduce_version
from typer.testing import CliRunner

from pulumi_mlops.cli import app
from pulumi_mlops.local import LocalS3
from pulumi_mlops.local.services import BUCKET_TYPE, CLOUD_ENV
from pulumi_mlops.preview import CapturedResource, ResourceGraph

sys.path.insert(0, str(Path(__file__).parent))

runner = CliRunner()


def _parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def _invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.output, result.output
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def bucket_api() -> Iterator[LocalS3]:
    """The loopback S3 API with one versioned bucket, as a stack's datasets bucket."""
    urn = "urn:pulumi:test::p::aws:s3/bucket:Bucket::datasets"
    bucket = CapturedResource(
        urn=urn, type=BUCKET_TYPE, name="datasets", custom=True, parent=None, inputs={"bucket": "mlops-datasets-test"}
    )
    with pytest.MonkeyPatch.context() as env:
        for key, value in CLOUD_ENV.items():
            env.setenv(key, value)
        with LocalS3(ResourceGraph(project="p", stack="test", resources={urn: bucket})) as server:
            yield server


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, local_settings: RuntimeSettings) -> RuntimeSettings:
    """The session's local store through ``MLOPS_HOME``, and no other setting."""
    for key in list(os.environ):
        if key.startswith("MLOPS_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("MLOPS_HOME", local_settings.home)
    return RuntimeSettings.from_env()


@pytest.mark.integration
def test_reproduce_reads_the_recorded_s3_version_after_the_object_was_overwritten(
    bucket_api: LocalS3, env: RuntimeSettings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MLOPS_S3_ENDPOINT_URL", bucket_api.endpoint)
    settings = RuntimeSettings.from_env()
    bucket = bucket_api.bucket("datasets")
    uri = f"s3://{bucket}/train.parquet"
    bucket_api.write(uri, _parquet(generate_churn(1000, seed=0)))
    trained_version = bucket_api.client.head_object(Bucket=bucket, Key="train.parquet")["VersionId"]
    code, output = _invoke(
        "train", "--model", "repro-s3", "--data", uri, "--estimator", "gradient_boosting", "--param", "max_iter=20",
        "--no-explain",
    )  # fmt: skip
    assert code == 0, output
    client = mlflow_client(settings)
    run_id = client.get_model_version("repro-s3", "1").run_id
    assert json.loads(client.get_run(run_id).data.tags[DATA_VERSIONS_TAG]) == {uri: trained_version}
    card = Path(client.download_artifacts(run_id, "model_card.md", str(tmp_path))).read_text()
    assert f"{uri} version {trained_version}" in card and "scikit-learn" in card

    bucket_api.write(uri, _parquet(generate_churn(1000, seed=1)))
    report_path = tmp_path / "report.json"
    code, output = _invoke("reproduce", "--model", "repro-s3", "--version", "1", "--json", str(report_path))
    assert code == 0, output
    report = json.loads(report_path.read_text())
    assert report["matches"] and report["predictions"]["mode"] == "exact"
    assert report["predictions"]["max_abs_difference"] == 0.0 and report["predictions"]["mismatched_rows"] == 0
    assert report["reproduced_dataset_sha256"] == report["dataset_sha256"]
    assert all(m["difference"] == 0.0 for m in report["metrics"]), report["metrics"]
    assert trained_version in output and "identical" in output and "not registered" in output
    assert dataset_digest(load_frame(uri, settings)).sha256 != report["dataset_sha256"], "the bucket's data changed"
    assert [v.version for v in list_versions(settings, "repro-s3")] == ["1"], "nothing registered without --register"

    code, output = _invoke("reproduce", "--model", "repro-s3", "--version", "1", "--register")
    assert code == 0, output
    assert sorted(v.version for v in list_versions(settings, "repro-s3")) == ["1", "2"]
    assert client.get_model_version("repro-s3", "2").tags[REPRODUCES_TAG] == "1"

    bucket_api.client.delete_object(Bucket=bucket, Key="train.parquet", VersionId=trained_version)
    code, output = _invoke("reproduce", "--model", "repro-s3", "--version", "1")
    assert code == 2, output
    assert f"version {trained_version} recorded at training no longer exists" in " ".join(output.split())


def test_a_local_file_changed_after_training_is_a_clear_digest_error(env: RuntimeSettings, tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    generate_churn(800, seed=0).to_csv(path, index=False)
    recorded = hashlib.sha256(path.read_bytes()).hexdigest()
    code, output = _invoke(
        "train", "--model", "repro-local", "--data", str(path), "--estimator", "logistic_regression", "--no-explain"
    )
    assert code == 0, output
    generate_churn(800, seed=1).to_csv(path, index=False)
    changed = hashlib.sha256(path.read_bytes()).hexdigest()
    code, output = _invoke("reproduce", "--model", "repro-local", "--version", "1")
    text = " ".join(output.split())
    assert code == 2, output
    assert str(path) in text and f"sha256 {changed} now, {recorded} recorded" in text


def test_unknown_models_versions_and_versions_without_data_versions_are_refused(env: RuntimeSettings) -> None:
    from pulumi_mlops.runtime.training import train

    code, output = _invoke("reproduce", "--model", "repro-ghost", "--version", "1")
    assert code == 2 and "no registered model named 'repro-ghost'" in output, output
    frame = generate_churn(600, seed=0)
    spec = TrainingSpec(model=ModelRef(name="repro-unpinned"), estimator="logistic_regression", explain=False)
    train(spec, env, frame=frame)
    code, output = _invoke("reproduce", "--model", "repro-unpinned", "--version", "7")
    assert code == 2 and "has no version or alias '7'" in output, output
    code, output = _invoke("reproduce", "--model", "repro-unpinned", "--version", "1")
    assert code == 2 and "has no data_versions.json" in " ".join(output.split()), output


def test_an_estimator_that_is_not_reproducible_exits_1(env: RuntimeSettings) -> None:
    code, output = _invoke(
        "train", "--model", "repro-bootstrap", "--data", "generated://churn?rows=800", "--estimator",
        "unseeded_estimators:BootstrapClassifier", "--no-explain",
    )  # fmt: skip
    assert code == 0, output
    code, output = _invoke("reproduce", "--model", "repro-bootstrap", "--version", "1", "--tolerance", "1e-6")
    text = " ".join(output.split())
    assert code == 1, output
    assert "DIFFER on" in text and "tolerance |reproduced - registered| <= 1e-06 + 1e-06*|registered|" in text


def test_the_mlp_is_compared_within_the_stated_tolerance(local_settings: RuntimeSettings) -> None:
    from pulumi_mlops.runtime.training import train

    spec = TrainingSpec(
        model=ModelRef(name="repro-mlp"), estimator="mlp", data="generated://churn?rows=600",
        params={"epochs": 2, "batch_size": 128}, explain=False,
    )  # fmt: skip
    version = train(spec, local_settings).version
    assert version is not None
    report = reproduce_version("repro-mlp", version, local_settings)
    assert report.predictions.mode == "tolerance" and report.predictions.tolerance == 1e-4
    assert report.matches, report.predictions.render()
    assert "<= 0.0001 + 0.0001*|registered|" in report.predictions.render()


def test_compare_outputs_exactly_or_within_tolerance() -> None:
    registered = np.array([[0.2, 0.8], [0.5, 0.5], [0.9, 0.1]])
    assert compare_outputs(registered, registered.copy(), exact=True, tolerance=0.0) == (0, 0.0)
    nudged = registered + np.array([[0.0, 1e-12], [0.0, 0.0], [0.0, 0.0]])
    mismatched, largest = compare_outputs(registered, nudged, exact=True, tolerance=0.0)
    assert mismatched == 1 and 0 < largest < 1e-11
    assert compare_outputs(registered, registered + 1e-6, exact=False, tolerance=1e-4)[0] == 0
    assert compare_outputs(registered, registered + 1e-3, exact=False, tolerance=1e-4)[0] == 3
    with_nan = registered.copy()
    with_nan[1, 0] = np.nan
    assert compare_outputs(registered, with_nan, exact=False, tolerance=1e-4)[0] == 1
    with pytest.raises(ValueError, match="shape"):
        compare_outputs(registered, registered[:, :1], exact=True, tolerance=0.0)

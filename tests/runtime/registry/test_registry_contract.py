"""The registration contract the model server relies on, and verified loading."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from mlflow import MlflowClient
from pulumi_mlops.runtime.config import RuntimeSettings
from pulumi_mlops.runtime.drift.profile import ReferenceProfile
from pulumi_mlops.runtime.registry import (
    DIGEST_TAG,
    DigestMismatchError,
    ModelNotFoundError,
    directory_digest,
    load_model_version,
    mlflow_client,
    read_audit,
)
from pulumi_mlops.runtime.registry.artifacts import download_model_dir
from sklearn.pipeline import Pipeline


def test_registered_version_carries_the_contract(train_version, local_settings: RuntimeSettings) -> None:
    result = train_version("contract-lr")
    client: MlflowClient = mlflow_client(local_settings)
    mv = client.get_model_version_by_alias("contract-lr", "challenger")
    assert str(mv.version) == result.version == "1"
    assert mv.tags["mlops.flavor"] == "sklearn"
    assert mv.tags["mlops.run_id"] == result.run_id
    assert mv.tags["mlops.dataset_sha256"] == result.dataset.sha256
    with tempfile.TemporaryDirectory() as tmp:
        local = download_model_dir(client, "contract-lr", mv.version, Path(tmp))
        assert (local / "MLmodel").is_file()
        assert mv.tags[DIGEST_TAG] == directory_digest(local)
        requirements = (local / "requirements.txt").read_text().split()
        assert any(r.startswith("scikit-learn==") for r in requirements) and len(requirements) <= 6
    artifacts = {a.path for a in client.list_artifacts(result.run_id)}
    assert {"reference_profile.json", "model_card.md", "holdout.parquet", "dataset.json"} <= artifacts
    run = client.get_run(result.run_id)
    assert run.data.tags["mlops.dataset_sha256"] == result.dataset.sha256
    assert run.data.metrics["holdout_auc"] == pytest.approx(result.metrics["auc"])
    assert run.data.params["estimator"] == "logistic_regression"
    assert [e.action for e in read_audit(local_settings, "contract-lr")] == ["register"]


def test_load_model_version_verifies_and_loads(train_version, local_settings: RuntimeSettings) -> None:
    result = train_version("contract-mlp", "mlp")
    loaded = load_model_version("contract-mlp", "challenger", local_settings)
    assert isinstance(loaded.model, Pipeline) and loaded.version == result.version
    assert loaded.signature_columns == result.features
    assert loaded.profile is not None and loaded.profile["schema_version"] == 2
    assert set(loaded.profile["features"]) == set(result.features)
    frame = result.holdout[loaded.signature_columns]
    np.testing.assert_allclose(loaded.model.predict_proba(frame), result.pipeline.predict_proba(frame), rtol=1e-6)
    assert load_model_version("contract-mlp", result.version, local_settings).version == result.version
    with pytest.raises(ModelNotFoundError, match="champion"):
        load_model_version("contract-mlp", "champion", local_settings)


def test_tampered_artifact_is_refused(train_version, local_settings: RuntimeSettings) -> None:
    result = train_version("contract-tamper")
    client = mlflow_client(local_settings)
    location = client.get_model_version_download_uri("contract-tamper", result.version)
    model_dir = Path(location.removeprefix("file://"))
    assert (model_dir / "MLmodel").is_file(), location
    with (model_dir / "MLmodel").open("a") as fh:
        fh.write("# changed\n")
    with pytest.raises(DigestMismatchError, match=r"MLmodel \(sha256 \w+\.\.\., registered \w+\.\.\.\) differs"):
        load_model_version("contract-tamper", result.version, local_settings)
    (model_dir / "notes.txt").write_text("added\n")
    with pytest.raises(DigestMismatchError, match=r"notes\.txt \(not registered\)"):
        load_model_version("contract-tamper", result.version, local_settings)
    client.delete_model_version_tag("contract-tamper", result.version, DIGEST_TAG)
    with pytest.raises(DigestMismatchError, match=r"no mlops\.artifact_sha256"):
        load_model_version("contract-tamper", result.version, local_settings)


def test_a_version_loaded_the_plain_mlflow_way_still_verifies(train_version, local_settings: RuntimeSettings) -> None:
    """MLflow writes registered_model_meta into the stored artifacts when it loads models:/name@alias; the digest
    rule leaves that file out, for registry loading and the model server alike."""
    import mlflow.sklearn
    from pulumi_mlops.runtime.registry import MLFLOW_WRITTEN, configure_mlflow
    from pulumi_mlops.runtime.serving import MlflowModelSource

    result = train_version("contract-plain")
    configure_mlflow(local_settings)
    plain = mlflow.sklearn.load_model("models:/contract-plain@challenger")
    location = mlflow_client(local_settings).get_model_version_download_uri("contract-plain", result.version)
    stored = Path(location.removeprefix("file://"))
    assert {p.name for p in stored.iterdir()} >= MLFLOW_WRITTEN, "MLflow wrote its file into the stored artifacts"
    loaded = load_model_version("contract-plain", "challenger", local_settings)
    frame = result.holdout[loaded.signature_columns]
    np.testing.assert_allclose(loaded.model.predict_proba(frame), plain.predict_proba(frame))
    served = MlflowModelSource(local_settings).load("contract-plain", result.version)
    assert served.digest == loaded.artifact_sha256


def test_reference_profile_artifact_is_json(train_version, local_settings: RuntimeSettings) -> None:
    result = train_version("contract-profile", "gradient_boosting")
    client = mlflow_client(local_settings)
    with tempfile.TemporaryDirectory() as tmp:
        profile = json.loads(Path(client.download_artifacts(result.run_id, "reference_profile.json", tmp)).read_text())
        card = Path(client.download_artifacts(result.run_id, "model_card.md", tmp)).read_text()
    assert profile == result.profile
    prediction = profile["prediction"]
    assert prediction["kind"] == "numeric" and sum(prediction["bin_counts"]) == len(result.holdout)
    assert profile["metrics"]["auc"] == pytest.approx(result.metrics["auc"])
    reference = ReferenceProfile.model_validate(profile)
    assert list(reference.features) == result.features
    assert reference.features["plan"].kind == "categorical"
    assert reference.features["tenure_months"].kind == "numeric"
    assert result.dataset.sha256 in card and "## Limitations" in card

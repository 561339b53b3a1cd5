"""``mlops train``, ``mlops promote`` and ``mlops registry ...`` end to end on a local store."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from pulumi_mlops.runtime.config import RuntimeSettings
from pulumi_mlops.runtime.registry import list_versions
from typer.testing import CliRunner

from pulumi_mlops.cli import app

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, local_settings: RuntimeSettings) -> Path:
    """The session's local store (its sqlite schema is created once) through ``MLOPS_HOME``."""
    for key in list(os.environ):
        if key.startswith("MLOPS_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("MLOPS_HOME", local_settings.home)
    return tmp_path


def test_train_from_config_then_promote_list_rollback(env: Path) -> None:
    config = env / "train.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "model": {"name": "cli-churn"},
                "estimator": "gradient_boosting",
                "data": "generated://churn?rows=1000",
                "params": {"max_iter": 15},
            }
        )
    )
    out = env / "result.json"
    result = runner.invoke(app, ["train", "--config", str(config), "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "version 1 (alias challenger)" in result.output
    assert json.loads(out.read_text())["version"] == "1"

    spec = env / "spec.json"
    spec.write_text(
        json.dumps(
            {"model": {"name": "cli-churn"}, "estimator": "logistic_regression", "data": "generated://churn?rows=1000"}
        )
    )
    result = runner.invoke(app, ["train", "--spec", str(spec), "--seed", "7"])
    assert result.exit_code == 0, result.output

    result = runner.invoke(app, ["promote", "--model", "cli-churn"])
    assert result.exit_code == 0 and "promote" in result.output, result.output
    result = runner.invoke(app, ["registry", "list", "--model", "cli-churn"])
    assert result.exit_code == 0 and "champion" in result.output, result.output
    result = runner.invoke(app, ["registry", "rollback", "--model", "cli-churn"])
    assert result.exit_code == 2 and "no earlier champion" in result.output
    result = runner.invoke(app, ["registry", "audit", "--model", "cli-churn"])
    assert result.exit_code == 0 and "register" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train"], "no model name"),
        (["train", "--model", "x", "--estimator", "svm"], "estimator"),
        (["train", "--model", "x", "--data", "missing.parquet"], "no such file"),
        (["train", "--model", "x", "--param", "oops"], "name=value"),
        (["train", "--config", "nope.yaml"], "not found"),
        (["promote", "--model", "ghost"], "ghost"),
    ],
)
def test_user_errors_exit_2_without_traceback(env: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_invalid_data_stops_training_naming_the_column(env: Path) -> None:
    from pulumi_mlops.runtime.data import churn_schema, generate_churn

    frame = generate_churn(300, 0).drop(columns=["plan"])
    frame.loc[:10, "tenure_months"] = -1.0
    path = env / "bad.parquet"
    frame.to_parquet(path, index=False)
    config = env / "bad.yaml"
    config.write_text(yaml.safe_dump({"model": {"name": "bad"}, "data": str(path), "estimator": "logistic_regression"}))
    schema = env / "schema.json"
    schema.write_text(churn_schema().model_dump_json())
    result = runner.invoke(app, ["train", "--config", str(config), "--schema", str(schema), "--no-register"])
    assert result.exit_code == 2, result.output
    assert "plan (missing)" in result.output and "tenure_months (range)" in result.output
    assert "bad" not in [r.name for r in list_versions(RuntimeSettings(home=os.environ["MLOPS_HOME"]))]

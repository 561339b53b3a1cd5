"""``mlops retrain`` and ``mlops demo`` usage errors: messages, exit code 2, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from pulumi_mlops.cli import app


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["retrain", "--model", "churn"], "give exactly one of --window"),
        (["retrain", "--model", "churn", "--window", "w", "--cronjob", "c"], "give exactly one of --window"),
        (["retrain", "--model", "Bad Name", "--window", "w"], "name"),
    ],
)
def test_retrain_usage_errors(args: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_HOME", str(tmp_path))
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_retrain_spec_file_must_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_HOME", str(tmp_path))
    result = CliRunner().invoke(app, ["retrain", "--model", "churn", "--window", "w", "--spec", str(tmp_path / "x")])
    assert result.exit_code == 2 and "cannot read the drift spec" in result.output

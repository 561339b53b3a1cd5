"""``mlops registry apply-champions``: a reviewed file moves ``champion``, audited, checked against the stack."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi_mlops.runtime.config import RuntimeSettings
from pulumi_mlops.runtime.registry import list_versions, read_audit
from typer.testing import CliRunner

from pulumi_mlops.cli import app
from pulumi_mlops.spec import CONFIG_KEY

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[3]
MODEL = "pinned-churn"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, local_settings: RuntimeSettings) -> Path:
    for key in list(os.environ):
        if key.startswith("MLOPS_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("MLOPS_HOME", local_settings.home)
    return tmp_path


def _stack(tmp: Path, endpoints: list[dict[str, Any]]) -> Path:
    """A stacks folder with ``Pulumi.test.yaml``: the dev stack serving ``endpoints``, with no jobs of other models."""
    doc = yaml.safe_load((ROOT / "stacks" / "Pulumi.dev.yaml").read_text())
    platform = copy.deepcopy(doc["config"][CONFIG_KEY])
    platform.update(endpoints=endpoints, training=[], batch_jobs=[])
    doc["config"][CONFIG_KEY] = platform
    stacks = tmp / "stacks"
    stacks.mkdir(exist_ok=True)
    (stacks / "Pulumi.test.yaml").write_text(yaml.safe_dump(doc))
    return stacks


def _endpoint(name: str, model: str, alias: str = "champion") -> dict[str, Any]:
    return {"name": name, "serving": {"model": {"name": model, "alias": alias}}}


def _file(tmp: Path, section: dict[str, Any]) -> Path:
    path = tmp / "champions.yaml"
    path.write_text(yaml.safe_dump({"stacks": {"test": section}}))
    return path


def _apply(file: Path, stacks: Path, *extra: str) -> Any:
    return runner.invoke(
        app, ["registry", "apply-champions", "-f", str(file), "-s", "test", "--stacks-dir", str(stacks), *extra]
    )


def _champion(settings: RuntimeSettings) -> str | None:
    rows = [r for r in list_versions(settings, MODEL) if "champion" in r.aliases]
    return rows[0].version if rows else None


def _pins(settings: RuntimeSettings) -> list[dict[str, str | None]]:
    return [e.versions for e in read_audit(settings, MODEL) if e.action == "pin"]


def test_the_file_moves_the_champion_once_and_audits_it(
    env: Path, local_settings: RuntimeSettings, train_version: Any
) -> None:
    train_version(MODEL)
    train_version(MODEL, seed=3)
    stacks = _stack(env, [_endpoint("churn", MODEL), _endpoint("churn-canary", MODEL, "challenger")])

    checked = _apply(_file(env, {"churn": {"model": MODEL, "version": 1}}), stacks, "--check")
    assert checked.exit_code == 0, checked.output
    assert _champion(local_settings) is None, "--check touches no registry"

    first = _apply(_file(env, {"churn": {"model": MODEL, "version": 1}}), stacks, "--note", "PR 12")
    assert first.exit_code == 0, first.output
    assert _champion(local_settings) == "1"
    assert _pins(local_settings) == [{"champion_before": None, "champion_after": "1"}]
    assert "(note: PR 12)" in read_audit(local_settings, MODEL)[-1].reason

    again = _apply(_file(env, {"churn": {"model": MODEL, "version": 1}}), stacks)
    assert again.exit_code == 0 and "unchanged" in again.output, again.output
    assert len(_pins(local_settings)) == 1, "applying the same file twice records nothing"

    second = _apply(_file(env, {"churn": {"model": MODEL, "version": 2}}), stacks)
    assert second.exit_code == 0, second.output
    assert _champion(local_settings) == "2"
    assert _pins(local_settings)[-1] == {"champion_before": "1", "champion_after": "2"}

    back = runner.invoke(app, ["registry", "rollback", "--model", MODEL])
    assert back.exit_code == 0, back.output
    assert _champion(local_settings) == "1", "the pin is in the champion history rollback follows"


@pytest.mark.parametrize(
    ("endpoints", "section", "message"),
    [
        ([_endpoint("churn", MODEL)], {"churm": {"model": MODEL, "version": 1}}, "has no endpoint 'churm'"),
        ([_endpoint("churn", MODEL)], {"churn": {"model": "other", "version": 1}}, "serves pinned-churn, not other"),
        (
            [_endpoint("churn", MODEL), _endpoint("churn-b", "other")],
            {"churn": {"model": MODEL, "version": 1}},
            "endpoint churn-b serves other@champion but the file names no champion",
        ),
        (
            [_endpoint("churn", MODEL), _endpoint("churn-b", MODEL)],
            {"churn": {"model": MODEL, "version": 1}, "churn-b": {"model": MODEL, "version": 2}},
            "name different champions",
        ),
        ([_endpoint("churn", MODEL)], {"churn": {"model": MODEL, "version": 0}}, "version"),
        ([_endpoint("churn", MODEL)], {"churn": {"model": MODEL}}, "stacks.test.churn.version"),
    ],
    ids=["unknown-endpoint", "other-model", "missing-endpoint", "two-champions", "version-zero", "no-version"],
)
def test_a_file_that_does_not_match_the_stack_is_refused(
    env: Path, endpoints: list[dict[str, Any]], section: dict[str, Any], message: str
) -> None:
    result = _apply(_file(env, section), _stack(env, endpoints), "--check")
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_a_version_the_registry_lacks_is_refused(
    env: Path, local_settings: RuntimeSettings, train_version: Any
) -> None:
    train_version("pinned-missing")
    stacks = _stack(env, [_endpoint("churn", "pinned-missing")])
    result = _apply(_file(env, {"churn": {"model": "pinned-missing", "version": 9}}), stacks)
    assert result.exit_code == 2, result.output
    assert "has no version or alias '9'" in " ".join(result.output.split())
    assert [e for e in read_audit(local_settings, "pinned-missing") if e.action == "pin"] == []


def test_a_stack_without_a_section_pins_nothing(env: Path) -> None:
    path = env / "champions.yaml"
    path.write_text(yaml.safe_dump({"stacks": {"prod": {"churn": {"model": MODEL, "version": 1}}}}))
    result = _apply(path, _stack(env, [_endpoint("churn", MODEL)]))
    assert result.exit_code == 0 and "pins no champions for stack test" in result.output

"""The training spec a registered version was trained with, for retraining it the same way.

Registration logs the run's ``TrainingSpec`` as ``training_spec.json``; versions registered before that
have their spec rebuilt from the run's params. Either way the task and the feature columns are the ones
the run resolved (``task`` and ``features`` params), so a retraining on fresh data fits the same task on
the same columns, which is what the served schema and the reference profile expect.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from pulumi_mlops.runtime.config import RuntimeSettings, TrainingSpec

from .contract import RUN_ID_TAG, TRAINING_SPEC_ARTIFACT
from .loading import ModelNotFoundError, resolve_version
from .tracking import mlflow_client

__all__ = ["spec_from_params", "training_spec_of"]

_COPIED = ("estimator", "data", "label", "task", "promotion_metric")
_NUMBERS = {"seed": int, "search_trials": int, "holdout_fraction": float, "promotion_margin": float}


def _value(text: str) -> float | int | str | bool:
    if text in ("True", "False"):
        return text == "True"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def spec_from_params(name: str, params: dict[str, str]) -> TrainingSpec:
    """A ``TrainingSpec`` from the params a training run logged (``_flat_params`` of the registration)."""
    raw: dict[str, Any] = {"model": {"name": name}}
    raw.update({key: params[key] for key in _COPIED if params.get(key)})
    raw.update({key: kind(params[key]) for key, kind in _NUMBERS.items() if params.get(key)})
    raw["features"] = [c for c in params.get("features", "").split(",") if c]
    raw["params"] = {k.removeprefix("estimator."): _value(v) for k, v in params.items() if k.startswith("estimator.")}
    if params.get("sensitive_columns"):
        raw["sensitive_columns"] = params["sensitive_columns"].split(",")
    if params.get("max_slice_degradation"):
        raw["max_slice_degradation"] = float(params["max_slice_degradation"])
    return TrainingSpec.model_validate(raw)


def training_spec_of(
    name: str, alias_or_version: str = "champion", settings: RuntimeSettings | None = None
) -> TrainingSpec:
    """The spec ``name@alias_or_version`` was trained with, its task and features made explicit.

    Raises :class:`~.loading.ModelNotFoundError` when the version or its run does not exist.
    """
    settings = settings or RuntimeSettings.from_env()
    client = mlflow_client(settings)
    version = resolve_version(client, name, alias_or_version)
    run_id = str((version.tags or {}).get(RUN_ID_TAG) or version.run_id or "")
    if not run_id:
        raise ModelNotFoundError(f"model {name} version {version.version} names no run; give --training-spec")
    params = dict(client.get_run(run_id).data.params)
    data = (_logged_spec(client, run_id) or spec_from_params(name, params)).model_dump()
    data["model"]["name"] = name
    if data["task"] is None and params.get("task"):
        data["task"] = params["task"]
    if not data["features"] and params.get("features"):
        data["features"] = [c for c in params["features"].split(",") if c]
    return TrainingSpec.model_validate(data)


def _logged_spec(client: Any, run_id: str) -> TrainingSpec | None:
    from mlflow.exceptions import MlflowException

    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = client.download_artifacts(run_id, TRAINING_SPEC_ARTIFACT, tmp)
        except (MlflowException, OSError):
            return None
        return TrainingSpec.model_validate(json.loads(Path(path).read_text()))

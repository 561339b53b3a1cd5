"""One local MLflow store (sqlite + file artifacts) per session; each test uses its own model name."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pulumi_mlops.runtime.config import ModelRef, RuntimeSettings, TrainingSpec
from threadpoolctl import threadpool_limits

FAST = {"logistic_regression": {}, "gradient_boosting": {"max_iter": 20}, "mlp": {"epochs": 2, "batch_size": 128}}


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="session")
def local_settings(tmp_path_factory: pytest.TempPathFactory) -> RuntimeSettings:
    home = tmp_path_factory.mktemp("mlops-home")
    return RuntimeSettings(home=str(home))


TrainFn = Callable[..., Any]


def make_trainer(settings: RuntimeSettings) -> TrainFn:
    from pulumi_mlops.runtime.training import train

    def run(name: str, estimator: str = "logistic_regression", rows: int = 1200, **spec: Any) -> Any:
        params = spec.pop("params", FAST[estimator])
        training = TrainingSpec(
            model=ModelRef(name=name), estimator=estimator, data=f"generated://churn?rows={rows}",
            params=params, **spec,
        )  # fmt: skip
        return train(training, settings)

    return run


@pytest.fixture(scope="session")
def train_version(local_settings: RuntimeSettings) -> TrainFn:
    """``train_version("name", "mlp")``: train and register a version in the session store."""
    return make_trainer(local_settings)


@pytest.fixture
def audit_path(local_settings: RuntimeSettings) -> Path:
    return Path(local_settings.resolved_audit_log())

"""A small fitted pipeline wrapped as a LoadedModel, and parquet input written from the churn generator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from pulumi_mlops.runtime.data import CATEGORICAL_FEATURES, NUMERIC_FEATURES, generate_churn
from pulumi_mlops.runtime.registry.loading import LoadedModel
from pulumi_mlops.runtime.training.pipelines import build_pipeline
from threadpoolctl import threadpool_limits

FEATURES = [*NUMERIC_FEATURES, *CATEGORICAL_FEATURES]


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="session")
def loaded_model() -> LoadedModel:
    frame = generate_churn(800, seed=1)
    pipeline = build_pipeline("gradient_boosting", NUMERIC_FEATURES, CATEGORICAL_FEATURES, {"max_iter": 15}, 0)
    pipeline.fit(frame[FEATURES], frame["churned"])
    return LoadedModel(
        model=pipeline, version="3", signature_columns=FEATURES, profile=None, name="churn",
        run_id="abc", artifact_sha256="f" * 64,
    )  # fmt: skip


@pytest.fixture(scope="session")
def score_frame() -> pd.DataFrame:
    return generate_churn(1000, seed=2, id_offset=500_000)


@pytest.fixture
def input_parquet(tmp_path: Path, score_frame: pd.DataFrame) -> Path:
    path = tmp_path / "input.parquet"
    score_frame.to_parquet(path, index=False, row_group_size=300)
    return path

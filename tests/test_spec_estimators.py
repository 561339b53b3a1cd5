"""Training jobs of a stack name estimators the runtime image can resolve, and distribute only the MLP."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from pulumi_mlops.spec.platform import TrainingJobSpec


def _job(estimator: str, nodes: int = 1) -> TrainingJobSpec:
    return TrainingJobSpec.model_validate(
        {"name": "train-x", "nodes": nodes, "training": {"model": {"name": "x"}, "estimator": estimator}}
    )


def test_built_in_families_and_import_paths_are_accepted() -> None:
    assert _job("gradient_boosting").training.estimator == "gradient_boosting"
    assert _job("acme_models.trees:BoostedStumps").training.estimator == "acme_models.trees:BoostedStumps"
    assert _job("mlp", nodes=2).nodes == 2


def test_a_registered_name_cannot_resolve_in_a_job() -> None:
    with pytest.raises(ValidationError, match=r"'gradient_boostin'.* a name given to register_estimator exists only"):
        _job("gradient_boostin")


def test_only_the_mlp_trains_on_several_nodes() -> None:
    with pytest.raises(ValidationError, match=r"nodes 2: only the mlp estimator trains under torchrun"):
        _job("random_forest", nodes=2)

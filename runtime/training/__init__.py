"""Training: scikit-learn pipelines and a PyTorch MLP, your own estimators, Optuna search, evaluation and DDP.

``estimator: auto`` searches the families and their parameters together (:mod:`.search`), on one process or
several sharing one study (:func:`run_search_worker`). Your own scikit-learn-compatible estimator trains like the
built-in families: by import path (``TrainingSpec.estimator = "package.module:Class"``, ``mlops train
--estimator``) or registered from Python with :func:`register_estimator` (see :mod:`.estimators`).

Importing this package does not import torch: the PyTorch estimators (``TabularMLPClassifier``,
``TabularMLPRegressor``) load on first use, so spec and data checks run before it.
"""

from typing import TYPE_CHECKING, Any

from . import _threads  # noqa: F401  (first: sizes the thread pools before numpy and torch load)
from .distributed import DistributedContext, choose_backend, distributed_context
from .estimators import (
    EstimatorEntry,
    build_model,
    register_estimator,
    registered_estimators,
    resolve_estimator,
    unregister_estimator,
)
from .evaluation import (
    evaluate_model,
    evaluate_multiclass,
    evaluate_probabilities,
    evaluate_regression,
    expected_calibration_error,
)
from .model_card import render_model_card
from .pipelines import ESTIMATOR_STEP, ESTIMATORS, build_pipeline, estimator_defaults, split_feature_kinds
from .preflight import PreparedData, prepare_training_data
from .search import SearchResult, SearchSetup, search_hyperparameters
from .search_workers import SearchWorkerResult, run_search_worker
from .seeding import seed_everything
from .specs import load_training_spec
from .splits import holdout_mask, split_frame
from .tasks import TaskError, TaskInfo, resolve_task
from .trainer import TrainingResult, default_schema, feature_columns, fit_and_evaluate, train

if TYPE_CHECKING:
    from .mlp import TabularMLPClassifier, TabularMLPRegressor

__all__ = [
    "ESTIMATORS",
    "ESTIMATOR_STEP",
    "DistributedContext",
    "EstimatorEntry",
    "PreparedData",
    "SearchResult",
    "SearchSetup",
    "SearchWorkerResult",
    "TabularMLPClassifier",
    "TabularMLPRegressor",
    "TaskError",
    "TaskInfo",
    "TrainingResult",
    "build_model",
    "build_pipeline",
    "choose_backend",
    "default_schema",
    "distributed_context",
    "estimator_defaults",
    "evaluate_model",
    "evaluate_multiclass",
    "evaluate_probabilities",
    "evaluate_regression",
    "expected_calibration_error",
    "feature_columns",
    "fit_and_evaluate",
    "holdout_mask",
    "load_training_spec",
    "prepare_training_data",
    "register_estimator",
    "registered_estimators",
    "render_model_card",
    "resolve_estimator",
    "resolve_task",
    "run_search_worker",
    "search_hyperparameters",
    "seed_everything",
    "split_feature_kinds",
    "split_frame",
    "train",
    "unregister_estimator",
]


def __getattr__(name: str) -> Any:
    if name in ("TabularMLPClassifier", "TabularMLPRegressor"):
        from . import mlp

        return getattr(mlp, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

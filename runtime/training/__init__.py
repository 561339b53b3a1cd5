"""Training: scikit-learn pipelines and a PyTorch MLP, Optuna search, evaluation and DDP under torchrun."""

from .distributed import DistributedContext, choose_backend, distributed_context
from .evaluation import evaluate_model, evaluate_probabilities, expected_calibration_error
from .mlp import TabularMLPClassifier
from .model_card import render_model_card
from .pipelines import ESTIMATOR_STEP, ESTIMATORS, build_pipeline, estimator_defaults, split_feature_kinds
from .search import SearchResult, search_hyperparameters
from .seeding import seed_everything
from .specs import load_training_spec
from .splits import holdout_mask, split_frame
from .trainer import TrainingResult, default_schema, feature_columns, fit_and_evaluate, train

__all__ = [
    "ESTIMATORS",
    "ESTIMATOR_STEP",
    "DistributedContext",
    "SearchResult",
    "TabularMLPClassifier",
    "TrainingResult",
    "build_pipeline",
    "choose_backend",
    "default_schema",
    "distributed_context",
    "estimator_defaults",
    "evaluate_model",
    "evaluate_probabilities",
    "expected_calibration_error",
    "feature_columns",
    "fit_and_evaluate",
    "holdout_mask",
    "load_training_spec",
    "render_model_card",
    "search_hyperparameters",
    "seed_everything",
    "split_feature_kinds",
    "split_frame",
    "train",
]

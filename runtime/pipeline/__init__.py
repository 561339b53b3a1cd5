"""Pipelines over the runtime's parts: the automated retraining loop and the end-to-end demo."""

from .guard import RetrainGuard, RetrainHistory
from .retrain import DriftOutcome, PromotionOutcome, RetrainDecision, RetrainSteps, run_retrain

__all__ = [
    "DriftOutcome",
    "PromotionOutcome",
    "RetrainDecision",
    "RetrainGuard",
    "RetrainHistory",
    "RetrainSteps",
    "run_retrain",
]

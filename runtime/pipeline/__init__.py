"""Pipelines over the runtime's parts: the automated retraining loop and the end-to-end demo."""

from .guard import HISTORY_TAG, History, RegistryHistory, RetrainEntry, RetrainGuard, RetrainHistory
from .retrain import DriftOutcome, PromotionOutcome, RetrainDecision, RetrainSteps, run_retrain

__all__ = [
    "HISTORY_TAG",
    "DriftOutcome",
    "History",
    "PromotionOutcome",
    "RegistryHistory",
    "RetrainDecision",
    "RetrainEntry",
    "RetrainGuard",
    "RetrainHistory",
    "RetrainSteps",
    "run_retrain",
]

"""Estimators of a user's own package, given to the trainer by import path (``custom_estimators:Name``)."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler


class CentroidClassifier(ClassifierMixin, BaseEstimator):
    """Class probabilities from the softmax of negative squared distances to the class centroids."""

    def __init__(self, temperature: float = 1.0, random_state: int | None = None) -> None:
        self.temperature = temperature
        self.random_state = random_state

    def fit(self, x: Any, y: Any) -> CentroidClassifier:
        values, labels = np.asarray(x, dtype=float), np.asarray(y)
        self.classes_ = np.unique(labels)
        self.centroids_ = np.stack([values[labels == c].mean(axis=0) for c in self.classes_])
        return self

    def predict_proba(self, x: Any) -> np.ndarray:
        distance = ((np.asarray(x, dtype=float)[:, None, :] - self.centroids_[None]) ** 2).sum(axis=2)
        logits = -distance / self.temperature
        logits -= logits.max(axis=1, keepdims=True)
        weights = np.exp(logits)
        return np.asarray(weights / weights.sum(axis=1, keepdims=True))

    def predict(self, x: Any) -> np.ndarray:
        return np.asarray(self.classes_[np.argmax(self.predict_proba(x), axis=1)])


class MeanRegressor(RegressorMixin, BaseEstimator):
    """Predicts the training mean."""

    def fit(self, x: Any, y: Any) -> MeanRegressor:
        self.mean_ = float(np.mean(y))
        return self

    def predict(self, x: Any) -> np.ndarray:
        return np.full(len(x), self.mean_)


class LabelOnlyClassifier(ClassifierMixin, BaseEstimator):
    """A classifier without class probabilities."""

    def fit(self, x: Any, y: Any) -> LabelOnlyClassifier:
        self.classes_ = np.unique(y)
        return self

    def predict(self, x: Any) -> np.ndarray:
        return np.full(len(x), self.classes_[0])


def scaled_knn(n_neighbors: int = 5) -> Pipeline:
    """A factory returning a whole Pipeline, fitted on the raw feature columns as it is."""
    return Pipeline([("scale", StandardScaler()), ("knn", KNeighborsClassifier(n_neighbors=n_neighbors))])

"""An estimator of a user's own package that draws from unseeded randomness, so no two fits are the same model."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression


class BootstrapClassifier(ClassifierMixin, BaseEstimator):
    """Logistic regression on a bootstrap sample drawn from OS entropy (it takes no ``random_state``)."""

    def fit(self, x: Any, y: Any) -> BootstrapClassifier:
        values, labels = np.asarray(x, dtype=float), np.asarray(y)
        rows = np.random.default_rng().integers(0, len(values), len(values))
        self.model_ = LogisticRegression(max_iter=200).fit(values[rows], labels[rows])
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, x: Any) -> np.ndarray:
        return np.asarray(self.model_.predict_proba(np.asarray(x, dtype=float)))

    def predict(self, x: Any) -> np.ndarray:
        return np.asarray(self.model_.predict(np.asarray(x, dtype=float)))

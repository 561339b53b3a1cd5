"""What the Optuna search samples: each built-in family's hyperparameters, and the conditional space of ``auto``.

A named family (``estimator: gradient_boosting`` with ``search_trials`` > 0) samples that family's parameters
under their own names. ``estimator: auto`` samples a categorical ``family`` first and then that family's
parameters, named ``<family>.<parameter>`` in the trial (``gradient_boosting.learning_rate``,
``mlp.learning_rate``), so the sampler models each family's parameters on that family's trials only; the
parameters handed to the estimator are the plain names again (:func:`family_params`). Before the sampler takes
over, an ``auto`` study starts with one trial per family at a sensible configuration (:func:`first_guesses`,
cheapest family first), so every family is measured once even under a small budget.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_mlops.runtime.config import AUTO_ESTIMATOR

__all__ = [
    "AUTO_FAMILIES",
    "FAMILY_PARAM",
    "family_params",
    "family_prefix",
    "first_guesses",
    "search_families",
    "suggest_params",
]

AUTO_FAMILIES: tuple[str, ...] = ("logistic_regression", "gradient_boosting", "random_forest", "mlp")
"""The families ``auto`` chooses from, cheapest to fit first (``logistic_regression`` is ``Ridge`` for regression)."""
FAMILY_PARAM = "family"
"""The categorical trial parameter of an ``auto`` search that names the family."""

_FIRST_GUESS: dict[str, dict[str, Any]] = {
    "logistic_regression": {"C": 1.0},
    "gradient_boosting": {"learning_rate": 0.1, "max_iter": 100, "max_leaf_nodes": 31, "l2_regularization": 1e-6},
    "random_forest": {"n_estimators": 100, "max_depth": 12, "min_samples_leaf": 2},
    "mlp": {"hidden_units": 64, "hidden_layers": 2, "dropout": 0.1, "learning_rate": 1e-3},
}
_FIRST_GUESS_REGRESSION: dict[str, dict[str, Any]] = {"logistic_regression": {"alpha": 1.0}}


def search_families(estimator: str) -> tuple[str, ...]:
    """The families a search over ``estimator`` samples: all of :data:`AUTO_FAMILIES` for ``auto``."""
    return AUTO_FAMILIES if estimator == AUTO_ESTIMATOR else (estimator,)


def suggest_params(trial: Any, estimator: str, task: str = "binary", *, prefix: str = "") -> dict[str, Any]:
    """Sample the search space of one family; the trial stores each parameter as ``prefix + name``."""

    def name(parameter: str) -> str:
        return prefix + parameter

    if estimator == "logistic_regression" and task == "regression":
        return {"alpha": trial.suggest_float(name("alpha"), 1e-3, 100.0, log=True)}
    if estimator == "logistic_regression":
        return {"C": trial.suggest_float(name("C"), 1e-3, 10.0, log=True)}
    if estimator == "gradient_boosting":
        return {
            "learning_rate": trial.suggest_float(name("learning_rate"), 0.02, 0.3, log=True),
            "max_iter": trial.suggest_int(name("max_iter"), 20, 150),
            "max_leaf_nodes": trial.suggest_int(name("max_leaf_nodes"), 7, 63),
            "l2_regularization": trial.suggest_float(name("l2_regularization"), 1e-6, 1.0, log=True),
        }
    if estimator == "random_forest":
        return {
            "n_estimators": trial.suggest_int(name("n_estimators"), 20, 150),
            "max_depth": trial.suggest_int(name("max_depth"), 3, 16),
            "min_samples_leaf": trial.suggest_int(name("min_samples_leaf"), 1, 20),
        }
    if estimator == "mlp":
        return {
            "hidden_units": trial.suggest_categorical(name("hidden_units"), [16, 32, 64, 128]),
            "hidden_layers": trial.suggest_int(name("hidden_layers"), 1, 3),
            "dropout": trial.suggest_float(name("dropout"), 0.0, 0.4),
            "learning_rate": trial.suggest_float(name("learning_rate"), 1e-4, 1e-2, log=True),
        }
    raise ValueError(f"no search space for estimator {estimator!r}")


def family_prefix(family: str, families: Sequence[str]) -> str:
    """How the trials of a search over ``families`` name ``family``'s parameters: plain for one family."""
    return f"{family}." if len(families) > 1 else ""


def family_params(trial_params: Mapping[str, Any], family: str, families: Sequence[str]) -> dict[str, Any]:
    """``family``'s parameters of a trial under their plain names (without ``family`` itself)."""
    prefix = family_prefix(family, families)
    return {
        key.removeprefix(prefix): value
        for key, value in trial_params.items()
        if key != FAMILY_PARAM and key.startswith(prefix)
    }


def first_guesses(families: Sequence[str], task: str, limit: int) -> list[dict[str, Any]]:
    """One trial per family at a sensible configuration (trial parameter names), at most ``limit`` of them."""
    guesses = []
    for family in families[: max(limit, 0)]:
        chosen = _FIRST_GUESS_REGRESSION.get(family) if task == "regression" else None
        params = chosen or _FIRST_GUESS[family]
        prefix = family_prefix(family, families)
        guesses.append({FAMILY_PARAM: family, **{prefix + k: v for k, v in params.items()}})
    return guesses

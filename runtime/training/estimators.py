"""The estimators a training run can fit: the built-in families, your own by import path, or registered from Python.

``TrainingSpec.estimator`` names one of

- ``auto`` (the default): the search picks a built-in family and its parameters (:mod:`.search_space`);
- a built-in family (:mod:`.pipelines`: ``logistic_regression``, ``gradient_boosting``, ``random_forest``,
  ``mlp``);
- an import path ``package.module:Name``, where ``Name`` is a scikit-learn-compatible estimator class, a
  ``Pipeline`` class, or a factory function returning an unfitted estimator or ``Pipeline``; it is called
  with the spec's ``params`` as keyword arguments (``mlops train --estimator pkg.mod:Name --param k=v``);
- a name given to :func:`register_estimator` in this process (from Python:
  ``register_estimator("knn", KNeighborsClassifier, tasks=("binary", "multiclass"))``).

A bare estimator is put behind the built-in preprocessing (median imputation and scaling of numeric features,
one-hot encoding of categorical ones) in a ``Pipeline([("preprocess", ...), ("estimator", ...)])``, so its
explanations, ONNX export and serving are those of the built-in families. A ``Pipeline`` is fitted on the raw
feature columns as it is. Classifiers (binary, multiclass) need ``predict_proba``, regressors ``predict``;
every ``random_state`` left at None is set to the spec's seed. The fitted model is pickled with the run
(cloudpickle), so the module that defines the class must be importable where the model is served.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pulumi_mlops.runtime.config import BUILTIN_ESTIMATORS, ESTIMATOR_IMPORT_PATH, TASKS
from sklearn.base import is_classifier, is_regressor
from sklearn.pipeline import Pipeline

from .pipelines import ESTIMATOR_STEP, build_pipeline, estimator_defaults, preprocessing

__all__ = [
    "EstimatorEntry",
    "build_model",
    "register_estimator",
    "registered_estimators",
    "resolve_estimator",
    "unregister_estimator",
]

Kind = Literal["builtin", "registered", "import"]


@dataclass(frozen=True)
class EstimatorEntry:
    """A resolved ``TrainingSpec.estimator``."""

    name: str
    """As the spec gives it."""
    kind: Kind
    """builtin, registered or import (path)."""
    factory: Callable[..., Any] | None = None
    """Builds an unfitted estimator or Pipeline from keyword parameters (None for the built-in families)."""
    tasks: tuple[str, ...] = TASKS
    """Tasks it may be trained for."""
    defaults: Mapping[str, Any] = field(default_factory=dict)
    """Parameters used unless the spec sets them."""

    @property
    def distributed(self) -> bool:
        """Whether it trains under torchrun (DistributedDataParallel): the ``mlp`` family only."""
        return self.name == "mlp"

    @property
    def searchable(self) -> bool:
        """Whether the Optuna search has a space for it: the built-in families only."""
        return self.kind == "builtin"

    def defaults_for(self, task: str) -> dict[str, Any]:
        """Default parameters for ``task``."""
        return estimator_defaults(self.name, task) if self.kind == "builtin" else dict(self.defaults)


_REGISTERED: dict[str, EstimatorEntry] = {}


def register_estimator(
    name: str,
    factory: Callable[..., Any],
    *,
    tasks: Sequence[str] = TASKS,
    params: Mapping[str, Any] | None = None,
) -> None:
    """Make ``TrainingSpec(estimator=name)`` fit ``factory(**params)``, for the given ``tasks``, in this process.

    ``factory`` is an estimator or Pipeline class or a function returning an unfitted one; ``params`` are
    defaults the spec's ``params`` override. Registering a name again replaces it; built-in names are refused.
    """
    from pulumi_mlops.runtime.config import check_estimator

    if name in BUILTIN_ESTIMATORS:
        raise ValueError(f"{name!r} is a built-in estimator family: register yours under another name")
    check_estimator(name)
    if ESTIMATOR_IMPORT_PATH.match(name):
        raise ValueError(f"{name!r} looks like an import path: register under a plain name such as 'my_model'")
    if not callable(factory):
        raise TypeError(f"register_estimator({name!r}, ...): factory must be a class or a function")
    unknown = sorted(set(tasks) - set(TASKS))
    if unknown or not tasks:
        raise ValueError(f"register_estimator({name!r}, tasks=...): use some of {', '.join(TASKS)}, not {unknown}")
    _REGISTERED[name] = EstimatorEntry(name, "registered", factory, tuple(tasks), dict(params or {}))


def unregister_estimator(name: str) -> None:
    """Forget a registered name (no error when it is not registered)."""
    _REGISTERED.pop(name, None)


def registered_estimators() -> dict[str, EstimatorEntry]:
    """The names registered in this process."""
    return dict(_REGISTERED)


def _import(path: str) -> Callable[..., Any]:
    module_name, _, attribute = path.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(
            f"estimator {path!r}: cannot import module {module_name!r} ({type(exc).__name__}: {exc}); install the "
            "package that provides it, or fix the path (package.module:Class)"
        ) from None
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise ValueError(f"estimator {path!r}: module {module_name!r} has no attribute {attribute!r}; fix the path")
        target = getattr(target, part)
    if not callable(target):
        raise ValueError(f"estimator {path!r} is a {type(target).__name__}, not a class or factory function")
    return target


def resolve_estimator(name: str) -> EstimatorEntry:
    """The estimator ``name`` stands for; ValueError naming the fix when there is none."""
    if name in BUILTIN_ESTIMATORS:
        return EstimatorEntry(name, "builtin")
    if name in _REGISTERED:
        return _REGISTERED[name]
    if ESTIMATOR_IMPORT_PATH.match(name):
        return EstimatorEntry(name, "import", _import(name))
    registered = f"; registered here: {', '.join(sorted(_REGISTERED))}" if _REGISTERED else ""
    raise ValueError(
        f"unknown estimator {name!r}: use a built-in family ({', '.join(BUILTIN_ESTIMATORS)}), an import path "
        f"package.module:Class, or a name registered with register_estimator{registered}"
    )


def _accepted(factory: Callable[..., Any]) -> set[str] | None:
    """Keyword parameters ``factory`` accepts; None when it takes any (``**kwargs``) or cannot be inspected."""
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values()):
        return None
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return {n for n, p in signature.parameters.items() if p.kind in kinds and n != "self"}


def _instantiate(entry: EstimatorEntry, params: Mapping[str, Any]) -> Any:
    assert entry.factory is not None
    accepted = _accepted(entry.factory)
    unknown = sorted(set(params) - accepted) if accepted is not None else []
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {', '.join(unknown)} for estimator {entry.name!r}; it takes "
            f"{', '.join(sorted(accepted or ())) or 'no parameters'} (fix --param or TrainingSpec.params)"
        )
    try:
        model = entry.factory(**params)
    except Exception as exc:
        raise ValueError(f"estimator {entry.name!r} could not be built with {dict(params)}: {exc}") from exc
    if not hasattr(model, "fit"):
        raise ValueError(f"estimator {entry.name!r} built a {type(model).__name__}, which has no fit method")
    return model


def _check_task(entry: EstimatorEntry, model: Any, task: str) -> None:
    what = type(model).__name__
    if task not in entry.tasks:
        raise ValueError(f"estimator {entry.name!r} is registered for {', '.join(entry.tasks)}, not {task}")
    if task == "regression":
        if is_classifier(model):
            raise ValueError(
                f"estimator {entry.name!r} ({what}) is a classifier, but the task is regression: give a regressor, "
                "or set TrainingSpec.task (--task) to binary or multiclass for a class label"
            )
        if not hasattr(model, "predict"):
            raise ValueError(f"estimator {entry.name!r} ({what}) has no predict method, which a regressor needs")
        return
    if is_regressor(model):
        raise ValueError(
            f"estimator {entry.name!r} ({what}) is a regressor, but the task is {task}: give a classifier, or set "
            "TrainingSpec.task (--task) to regression for a numeric target"
        )
    if not hasattr(model, "predict_proba"):
        raise ValueError(
            f"estimator {entry.name!r} ({what}) has no predict_proba method: a {task} model must give class "
            "probabilities (for an SVC, pass --param probability=true)"
        )


def _seed(model: Any, params: Mapping[str, Any], seed: int) -> None:
    """Set every ``random_state`` the spec left unset (None) to ``seed``, nested ones of a Pipeline too."""
    if not hasattr(model, "get_params") or not hasattr(model, "set_params"):
        return
    current = model.get_params(deep=True)
    unset = {
        key: seed
        for key, value in current.items()
        if (key == "random_state" or key.endswith("__random_state")) and value is None and key not in params
    }
    if unset:
        model.set_params(**unset)


def build_model(
    entry: EstimatorEntry,
    numeric: Sequence[str],
    categorical: Sequence[str],
    params: Mapping[str, Any] | None = None,
    seed: int = 0,
    task: str = "binary",
) -> Pipeline:
    """The unfitted Pipeline of ``entry`` for ``task`` with ``params``; ValueError names what does not fit."""
    if entry.kind == "builtin":
        return build_pipeline(entry.name, numeric, categorical, params, seed, task)
    params = dict(params or {})
    model = _instantiate(entry, params)
    _check_task(entry, model, task)
    _seed(model, params, seed)
    if isinstance(model, Pipeline):
        return model
    return Pipeline([("preprocess", preprocessing(numeric, categorical, scale=True)), (ESTIMATOR_STEP, model)])

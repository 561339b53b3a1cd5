"""A PyTorch tabular MLP behind scikit-learn's classifier and regressor contracts.

``TabularMLPClassifier`` (one logit and binary cross-entropy for two classes, a softmax head and
cross-entropy beyond) and ``TabularMLPRegressor`` (mean squared error on the standardized target) take
the numeric matrix a ``ColumnTransformer`` produces, so the registered model is always a scikit-learn
``Pipeline``. When ``torch.distributed`` is
initialized (``torchrun``), ``fit`` wraps the network in ``DistributedDataParallel`` and shards
each epoch with a ``DistributedSampler``; every rank ends with the same weights.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, Self

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.validation import check_is_fitted
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler, TensorDataset

__all__ = ["TabularMLPClassifier", "TabularMLPRegressor"]

EpochCallback = Callable[[int, float], None]


def _dense(x: Any) -> np.ndarray:
    if hasattr(x, "toarray"):
        x = x.toarray()
    return np.asarray(x, dtype=np.float32)


class _TabularMLP(BaseEstimator, ABC):
    """``hidden_layers`` ReLU layers of ``hidden_units`` with dropout, trained with AdamW.

    ``fit`` seeds torch's global generator with ``random_state`` (initialisation and dropout), so equal
    parameters and data give equal weights. Subclasses say how labels become targets, the loss and the
    width of the output layer.
    """

    def __init__(
        self,
        hidden_units: int = 64,
        hidden_layers: int = 2,
        dropout: float = 0.1,
        learning_rate: float = 1e-3,
        weight_decay: float = 1e-4,
        batch_size: int = 256,
        epochs: int = 10,
        random_state: int = 0,
        device: str = "auto",
    ) -> None:
        self.hidden_units = hidden_units
        self.hidden_layers = hidden_layers
        self.dropout = dropout
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.epochs = epochs
        self.random_state = random_state
        self.device = device

    def _check_params(self) -> None:
        checks = {
            "hidden_units": self.hidden_units >= 1,
            "hidden_layers": self.hidden_layers >= 1,
            "dropout": 0.0 <= self.dropout < 1.0,
            "learning_rate": self.learning_rate > 0,
            "weight_decay": self.weight_decay >= 0,
            "batch_size": self.batch_size >= 1,
            "epochs": self.epochs >= 1,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"{type(self).__name__}: invalid {', '.join(bad)} ({self.get_params()})")

    def _torch_device(self) -> torch.device:
        if self.device != "auto":
            return torch.device(self.device)
        if torch.cuda.is_available():
            if _distributed():
                return torch.device("cuda", torch.cuda.current_device())
            return torch.device("cuda")
        return torch.device("cpu")

    def _build(self, n_features: int, outputs: int) -> nn.Module:
        layers: list[nn.Module] = []
        width = n_features
        for _ in range(int(self.hidden_layers)):
            layers += [nn.Linear(width, int(self.hidden_units)), nn.ReLU(), nn.Dropout(float(self.dropout))]
            width = int(self.hidden_units)
        layers.append(nn.Linear(width, outputs))
        return nn.Sequential(*layers)

    @abstractmethod
    def _learn_targets(self, y: np.ndarray) -> int:
        """Record what the labels need (classes, target scale); return the output width."""

    @abstractmethod
    def _targets(self, y: np.ndarray) -> np.ndarray:
        """The labels as the loss takes them."""

    @abstractmethod
    def _loss(self) -> nn.Module:
        """The training loss of the task."""

    def _init_state(self, x: np.ndarray, y: np.ndarray) -> None:
        self._check_params()
        outputs = self._learn_targets(y)
        self.n_features_in_ = x.shape[1]
        torch.manual_seed(int(self.random_state))
        self.module_ = self._build(x.shape[1], outputs).to(self._torch_device())
        self.epochs_trained_ = 0
        self.loss_curve_: list[float] = []
        self._start_training()

    def _start_training(self) -> None:
        self._device = next(self.module_.parameters()).device
        self._train_module: nn.Module = self.module_
        if _distributed():
            from torch.nn.parallel import DistributedDataParallel

            ids = [self._device.index] if self._device.type == "cuda" else None
            self._train_module = DistributedDataParallel(self.module_, device_ids=ids)
        self._optimizer: torch.optim.Optimizer | None = torch.optim.AdamW(
            self._train_module.parameters(), lr=float(self.learning_rate), weight_decay=float(self.weight_decay)
        )

    def _epoch(self, x: np.ndarray, y: np.ndarray) -> float:
        targets = self._targets(y)
        dataset = TensorDataset(torch.from_numpy(x), torch.from_numpy(targets))
        sampler: DistributedSampler[Any] | RandomSampler
        if _distributed():
            sampler = DistributedSampler(dataset, shuffle=True, seed=int(self.random_state))
            sampler.set_epoch(self.epochs_trained_)
        else:
            generator = torch.Generator().manual_seed(int(self.random_state) + self.epochs_trained_)
            sampler = RandomSampler(dataset, generator=generator)
        loader = DataLoader(dataset, batch_size=int(self.batch_size), sampler=sampler)
        loss_fn = self._loss()
        optimizer = self._optimizer
        if optimizer is None:
            raise RuntimeError(f"{type(self).__name__}: no optimizer; call fit or partial_fit")
        self._train_module.train()
        total, seen = 0.0, 0
        for xb, yb in loader:
            xb, yb = xb.to(self._device), yb.to(self._device)
            optimizer.zero_grad(set_to_none=True)
            out = self._train_module(xb)
            loss = loss_fn(out if out.shape[-1] > 1 else out.squeeze(-1), yb)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(xb)
            seen += len(xb)
        self.epochs_trained_ += 1
        mean_loss = total / max(seen, 1)
        self.loss_curve_.append(mean_loss)
        return mean_loss

    def fit(self, x: Any, y: Any, epoch_callback: EpochCallback | None = None) -> Self:
        """Train for ``epochs`` epochs; ``epoch_callback(epoch, loss)`` runs after each one."""
        xd, yd = _dense(x), np.asarray(y)
        self._init_state(xd, yd)
        for epoch in range(int(self.epochs)):
            loss = self._epoch(xd, yd)
            if epoch_callback is not None:
                epoch_callback(epoch, loss)
        self._finish()
        return self

    def partial_fit(self, x: Any, y: Any) -> Self:
        """Train one more epoch (the first call initializes the network)."""
        xd, yd = _dense(x), np.asarray(y)
        if not hasattr(self, "module_"):
            self._init_state(xd, yd)
        elif getattr(self, "_optimizer", None) is None:
            self._start_training()
        self._epoch(xd, yd)
        return self

    def _finish(self) -> None:
        self._train_module = self.module_

    def _outputs(self, x: Any) -> torch.Tensor:
        """The network's raw outputs ``[N, width]`` on CPU."""
        check_is_fitted(self, "module_")
        xd = _dense(x)
        device = next(self.module_.parameters()).device
        self.module_.eval()
        with torch.no_grad():
            return self.module_(torch.from_numpy(xd).to(device)).cpu()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for transient in ("_train_module", "_optimizer", "_device"):
            state.pop(transient, None)
        if "module_" in state and next(self.module_.parameters()).device.type != "cpu":
            state["module_"] = copy.deepcopy(self.module_).to("cpu")
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._optimizer = None


class TabularMLPClassifier(ClassifierMixin, _TabularMLP):
    """Classifier: one logit with binary cross-entropy for two classes, a softmax over K logits beyond."""

    def _learn_targets(self, y: np.ndarray) -> int:
        classes = np.unique(y)
        if len(classes) < 2:
            raise ValueError(f"TabularMLPClassifier needs at least two classes: found {classes.tolist()[:5]}")
        self.classes_ = classes
        return 1 if len(classes) == 2 else len(classes)

    def _targets(self, y: np.ndarray) -> np.ndarray:
        if len(self.classes_) == 2:
            return (y == self.classes_[1]).astype(np.float32)
        return np.searchsorted(self.classes_, y).astype(np.int64)

    def _loss(self) -> nn.Module:
        return nn.BCEWithLogitsLoss() if len(self.classes_) == 2 else nn.CrossEntropyLoss()

    def predict_proba(self, x: Any) -> np.ndarray:
        logits = self._outputs(x)
        if len(self.classes_) > 2:
            return torch.softmax(logits.double(), dim=-1).numpy()
        positive = torch.sigmoid(logits.squeeze(-1)).numpy().astype(np.float64)
        return np.column_stack([1.0 - positive, positive])

    def predict(self, x: Any) -> np.ndarray:
        proba = self.predict_proba(x)
        if len(self.classes_) > 2:
            return self.classes_[np.argmax(proba, axis=1)]
        return self.classes_[(proba[:, 1] >= 0.5).astype(int)]


class TabularMLPRegressor(RegressorMixin, _TabularMLP):
    """Regressor: one output trained with mean squared error on the target standardized by its training mean
    and standard deviation (``target_mean_``, ``target_scale_``), which ``predict`` undoes."""

    def _learn_targets(self, y: np.ndarray) -> int:
        values = np.asarray(y, dtype=np.float64)
        if not np.isfinite(values).all():
            raise ValueError("TabularMLPRegressor: the target holds NaN or infinite values; drop those rows")
        self.target_mean_ = float(values.mean())
        self.target_scale_ = float(values.std()) or 1.0
        return 1

    def _targets(self, y: np.ndarray) -> np.ndarray:
        values = np.asarray(y, dtype=np.float64)
        return ((values - self.target_mean_) / self.target_scale_).astype(np.float32)

    def _loss(self) -> nn.Module:
        return nn.MSELoss()

    def predict(self, x: Any) -> np.ndarray:
        standardized = self._outputs(x).squeeze(-1).numpy().astype(np.float64)
        return standardized * self.target_scale_ + self.target_mean_


def _distributed() -> bool:
    return (
        torch.distributed.is_available()
        and torch.distributed.is_initialized()
        and torch.distributed.get_world_size() > 1
    )

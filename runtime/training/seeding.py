"""Seeds for every random source a run touches."""

from __future__ import annotations

import os
import random
import sys

import numpy as np

__all__ = ["seed_everything"]


def seed_everything(seed: int, *, torch: bool | None = None) -> None:
    """Seed Python and NumPy, and torch (with deterministic kernels) when ``torch`` is True.

    ``torch=None`` seeds torch only when it is already imported (an estimator built on it), so runs that never use
    it do not pay for importing it.
    """
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    if torch is False or (torch is None and "torch" not in sys.modules):
        return
    import torch as _torch

    _torch.manual_seed(seed)
    _torch.use_deterministic_algorithms(True, warn_only=True)

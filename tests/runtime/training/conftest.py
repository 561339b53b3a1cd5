"""Small data and single-threaded math, so the training tests stay fast on a shared machine."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest
from pulumi_mlops.runtime.data import generate_churn
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def churn_frame() -> pd.DataFrame:
    return generate_churn(1500, seed=0)

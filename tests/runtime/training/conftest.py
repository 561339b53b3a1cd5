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


POSTGRES = ("127.0.0.1", 5432)


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """A throwaway database on the local PostgreSQL (user postgres, trust), dropped afterwards: its SQLAlchemy URL."""
    import uuid

    import psycopg2

    try:
        admin = psycopg2.connect(
            host=POSTGRES[0], port=POSTGRES[1], user="postgres", dbname="postgres", connect_timeout=2
        )
    except psycopg2.OperationalError as exc:
        pytest.skip(f"PostgreSQL is not reachable on {POSTGRES[0]}:{POSTGRES[1]} as user postgres: {exc}")
    admin.autocommit = True
    name = f"mlops_search_{uuid.uuid4().hex[:12]}"
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg2://postgres@{POSTGRES[0]}:{POSTGRES[1]}/{name}"
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()

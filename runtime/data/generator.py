"""A deterministic churn-style tabular dataset with knobs that inject drift.

Columns: ``customer_id`` (int64 entity id), ``event_timestamp`` (UTC), six numeric features,
four categorical features and the binary label ``churned``. The same ``rows``, ``seed`` and
shift always give the same frame; nothing is downloaded.

URIs of the form ``generated://churn?rows=5000&seed=7&shift=mean:0.5,variance:1.5,category:0.3,concept:1``
name a generated dataset wherever the runtime accepts a data location.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pandas as pd
from pulumi_mlops.runtime.config import StrictModel
from pydantic import Field

__all__ = [
    "CATEGORICAL_FEATURES",
    "ENTITY_COLUMN",
    "LABEL_COLUMN",
    "NUMERIC_FEATURES",
    "TIMESTAMP_COLUMN",
    "DriftShift",
    "GeneratedDataset",
    "generate_churn",
    "generate_from_uri",
    "parse_generated_uri",
]

ENTITY_COLUMN = "customer_id"
TIMESTAMP_COLUMN = "event_timestamp"
LABEL_COLUMN = "churned"
NUMERIC_FEATURES = (
    "tenure_months",
    "monthly_charges",
    "total_charges",
    "support_calls",
    "avg_session_minutes",
    "days_since_last_login",
)
CATEGORICAL_FEATURES = ("plan", "contract", "region", "payment_method")

_CATEGORIES: dict[str, tuple[tuple[str, ...], tuple[float, ...]]] = {
    "plan": (("basic", "standard", "premium"), (0.5, 0.35, 0.15)),
    "contract": (("monthly", "annual", "two_year"), (0.55, 0.3, 0.15)),
    "region": (("north", "south", "east", "west"), (0.3, 0.25, 0.25, 0.2)),
    "payment_method": (("card", "bank_transfer", "invoice", "wallet"), (0.45, 0.25, 0.2, 0.1)),
}
_ANCHOR = datetime(2026, 1, 1, tzinfo=UTC)
_SHIFT_KEYS = {
    "mean": "mean_shift",
    "variance": "variance_scale",
    "category": "category_shift",
    "concept": "concept_shift",
}


class DriftShift(StrictModel):
    """Drift injected into a generated dataset (all zero/one means no drift)."""

    mean_shift: float = Field(default=0.0, ge=-5.0, le=5.0)
    """Shift of every numeric feature's mean, in units of that feature's standard deviation."""
    variance_scale: float = Field(default=1.0, gt=0.0, le=10.0)
    """Factor applied to every numeric feature's spread around its mean."""
    category_shift: float = Field(default=0.0, ge=0.0, le=1.0)
    """Mix of each categorical feature's distribution towards its reverse (1 swaps rare and common)."""
    concept_shift: float = Field(default=0.0, ge=0.0, le=1.0)
    """Blend of the label rule towards a different one (the same inputs, other labels)."""

    @classmethod
    def parse(cls, text: str) -> DriftShift:
        """Parse ``mean:0.5,variance:1.5,category:0.3,concept:1``."""
        values: dict[str, float] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            key, sep, raw = part.partition(":")
            if not sep or key not in _SHIFT_KEYS:
                raise ValueError(f"shift part {part!r}: use kind:value with kind one of {', '.join(_SHIFT_KEYS)}")
            try:
                values[_SHIFT_KEYS[key]] = float(raw)
            except ValueError:
                raise ValueError(f"shift part {part!r}: {raw!r} is not a number") from None
        return cls(**values)

    @property
    def is_none(self) -> bool:
        return self == DriftShift()


class GeneratedDataset(StrictModel):
    """Parameters of a generated dataset, as named by a ``generated://`` URI."""

    name: str = "churn"
    """Dataset family (only ``churn`` exists)."""
    rows: int = Field(default=20_000, ge=10, le=10_000_000)
    """Number of rows."""
    seed: int = 0
    """Random seed; the same seed gives the same rows."""
    shift: DriftShift = Field(default_factory=DriftShift)
    """Injected drift."""
    id_offset: int = Field(default=100_000, ge=0)
    """First ``customer_id``; ids are consecutive."""


def parse_generated_uri(uri: str) -> GeneratedDataset:
    """Parse ``generated://churn?rows=N&seed=S&shift=...&id_offset=K``."""
    parts = urlsplit(uri)
    if parts.scheme != "generated":
        raise ValueError(f"{uri!r} is not a generated:// URI")
    name = parts.netloc or parts.path.strip("/")
    if name != "churn":
        raise ValueError(f"{uri!r}: unknown generated dataset {name!r}; use generated://churn")
    query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    allowed = {"rows", "seed", "shift", "id_offset"}
    unknown = sorted(set(query) - allowed)
    if unknown:
        raise ValueError(
            f"{uri!r}: unknown parameter(s) {', '.join(unknown)}; allowed are {', '.join(sorted(allowed))}"
        )
    try:
        return GeneratedDataset(
            name=name,
            rows=int(query.get("rows", 20_000)),
            seed=int(query.get("seed", 0)),
            shift=DriftShift.parse(query.get("shift", "")),
            id_offset=int(query.get("id_offset", 100_000)),
        )
    except ValueError as exc:
        raise ValueError(f"{uri!r}: {exc}") from None


def _categorical(rng: np.random.Generator, name: str, rows: int, shift: float) -> np.ndarray:
    levels, probs = _CATEGORIES[name]
    p = np.asarray(probs)
    p = (1.0 - shift) * p + shift * p[::-1]
    return rng.choice(np.asarray(levels, dtype=object), size=rows, p=p / p.sum())


def _spread(values: np.ndarray, mean: float, std: float, shift: DriftShift) -> np.ndarray:
    return mean + shift.mean_shift * std + (values - mean) * shift.variance_scale


def generate_churn(
    rows: int = 20_000,
    seed: int = 0,
    shift: DriftShift | None = None,
    *,
    id_offset: int = 100_000,
    window: tuple[datetime, datetime] | None = None,
) -> pd.DataFrame:
    """Generate the churn dataset: deterministic in ``(rows, seed, shift, id_offset, window)``.

    Without ``window`` the event times span the 90 days before 2026-01-01. With ``window = (since, until)``
    the rows are those of that period: event times inside it, and other rows for every other period (the
    random stream is seeded with the seed and the window), as a live source gives new rows every day.
    """
    if rows < 10:
        raise ValueError(f"rows must be at least 10, got {rows}")
    shift = shift or DriftShift()
    if window is not None:
        since, until = window
        if since >= until:
            raise ValueError(f"window start {since.isoformat()} is not before its end {until.isoformat()}")
        rng = np.random.default_rng([seed, int(since.timestamp()), int(until.timestamp())])
    else:
        rng = np.random.default_rng(seed)

    plan = _categorical(rng, "plan", rows, shift.category_shift)
    contract = _categorical(rng, "contract", rows, shift.category_shift)
    region = _categorical(rng, "region", rows, shift.category_shift)
    payment = _categorical(rng, "payment_method", rows, shift.category_shift)

    tenure = _spread(rng.gamma(2.0, 12.0, rows), 24.0, 17.0, shift).clip(0, 120)
    plan_price = np.select([plan == "basic", plan == "standard"], [30.0, 60.0], 95.0)
    monthly = _spread(plan_price + rng.normal(0, 8, rows), 52.0, 24.0, shift).clip(5, 250)
    total = (monthly * tenure * rng.uniform(0.9, 1.05, rows)).round(2)
    calls = _spread(rng.poisson(1.5, rows).astype(float), 1.5, 1.2, shift).clip(0, None).round()
    session = _spread(rng.lognormal(3.0, 0.5, rows), 23.0, 12.0, shift).clip(0, None)
    last_login = _spread(rng.exponential(10.0, rows), 10.0, 10.0, shift).clip(0, 365).round()

    contract_risk = np.select([contract == "monthly", contract == "annual"], [1.0, -0.3], -1.2)
    payment_risk = np.where(payment == "invoice", 0.4, 0.0)
    z = (tenure - 24.0) / 17.0
    logit_a = (
        -1.1
        - 0.9 * z
        + 0.5 * (monthly - 52.0) / 24.0
        + 0.6 * (calls - 1.5)
        + 0.5 * (last_login - 10.0) / 10.0
        - 0.3 * (session - 23.0) / 12.0
        + contract_risk
        + payment_risk
    )
    logit_b = -1.1 + 0.9 * z - 0.8 * (calls - 1.5) - contract_risk + np.where(region == "south", 1.0, -0.3)
    logit = (1.0 - shift.concept_shift) * logit_a + shift.concept_shift * logit_b
    churned = (rng.uniform(size=rows) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)

    if window is not None:
        span = max(1, int((window[1] - window[0]).total_seconds()))
        timestamps = pd.Timestamp(window[1]) - pd.to_timedelta(rng.integers(1, span + 1, rows), unit="s")
    else:
        seconds = rng.integers(0, 90 * 24 * 3600, rows)
        timestamps = pd.Timestamp(_ANCHOR) - pd.to_timedelta(seconds, unit="s")

    frame = pd.DataFrame(
        {
            ENTITY_COLUMN: np.arange(id_offset, id_offset + rows, dtype=np.int64),
            TIMESTAMP_COLUMN: timestamps,
            "tenure_months": tenure.round(1),
            "monthly_charges": monthly.round(2),
            "total_charges": total,
            "support_calls": calls.astype(np.int64),
            "avg_session_minutes": session.round(2),
            "days_since_last_login": last_login.astype(np.int64),
            "plan": plan.astype(str),
            "contract": contract.astype(str),
            "region": region.astype(str),
            "payment_method": payment.astype(str),
            LABEL_COLUMN: churned,
        }
    )
    return frame


def generate_from_uri(uri: str, window: tuple[datetime, datetime] | None = None) -> pd.DataFrame:
    """The frame a ``generated://`` URI names (the rows of ``window`` when one is given)."""
    spec = parse_generated_uri(uri)
    return generate_churn(spec.rows, spec.seed, spec.shift, id_offset=spec.id_offset, window=window)

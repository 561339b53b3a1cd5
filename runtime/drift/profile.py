"""The reference profile: what drift detection keeps of the training data (``reference_profile.json``).

A training run calls :func:`build_profile` on its reference data (usually the training frame and the
model's predictions on it) and logs the result as the run artifact ``reference_profile.json``. The
drift job reads it back with :meth:`ReferenceProfile.load` and never needs the training data itself.

Per numeric feature the profile holds quantile bins (``bins`` bins cut at reference quantiles; the
outer bins are open to -inf and +inf), the reference counts in those bins, a sorted sample of at most
``sample_size`` reference values (evenly spaced order statistics when the reference is larger, so
the sample is deterministic and follows every quantile) and summary statistics. Per categorical
feature it holds the category counts. Values that are not finite count as missing.

This module depends on numpy, pandas and pydantic only.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from pydantic import Field, PrivateAttr

from ..config import StrictModel
from .performance import performance_metrics
from .stats import ReferenceECDF, binned_counts

try:  # pandas' hash-table count behind Series.value_counts (see _chunk_counts)
    from pandas.core.algorithms import value_counts_arraylike as _hash_counts
except ImportError:  # pragma: no cover - a pandas that moved it: factorize instead
    _hash_counts = None

__all__ = [
    "DEFAULT_BINS",
    "DEFAULT_SAMPLE_SIZE",
    "LOW_CARDINALITY",
    "PREDICTION",
    "PROFILE_FILENAME",
    "CategoricalProfile",
    "FeatureProfile",
    "NumericProfile",
    "ProfileError",
    "ReferenceProfile",
    "build_profile",
    "categorical_values",
    "numeric_values",
    "repeated_names",
    "value_key",
]

PROFILE_FILENAME = "reference_profile.json"
PREDICTION = "prediction"
DEFAULT_BINS = 10
DEFAULT_SAMPLE_SIZE = 5000
LOW_CARDINALITY = 5
"""A numeric column whose reference and window hold at most this many distinct values together is tested as
categories (Evidently's default test choice)."""


class ProfileError(ValueError):
    """Raised when a reference profile cannot be built or read."""


class NumericProfile(StrictModel):
    """Reference distribution of one numeric column."""

    kind: Literal["numeric"] = "numeric"
    """Column kind; numeric columns get KS, PSI, Wasserstein and Jensen-Shannon tests."""
    dtype: str
    """pandas dtype of the reference column (schema changes are reported against it)."""
    count: int = Field(ge=0)
    """Non-missing reference values."""
    null_count: int = Field(ge=0)
    """Missing (null, NaN or infinite) reference values."""
    null_rate: float = Field(ge=0, le=1)
    """``null_count / (count + null_count)``."""
    mean: float | None = None
    """Mean of the non-missing values (null when there are none)."""
    std: float | None = None
    """Population standard deviation (ddof=0) of the non-missing values."""
    min: float | None = None
    """Smallest reference value."""
    max: float | None = None
    """Largest reference value."""
    bin_edges: list[float] = Field(default_factory=list)
    """Inner bin edges, ascending; the bins are ``(-inf, e0), [e0, e1), ..., [e_last, +inf)``."""
    bin_counts: list[int] = Field(default_factory=list)
    """Reference values per bin (one more entry than ``bin_edges``)."""
    sample: list[float] = Field(default_factory=list)
    """Sorted reference values (all of them, or evenly spaced order statistics) for KS and Wasserstein."""
    values: dict[str, int] | None = None
    """Count per distinct value (``repr`` of the float) when the reference has at most ``LOW_CARDINALITY`` of them:
    the column is then tested as categories while the window adds no value beyond that many, as Evidently does."""

    _arrays: tuple[ReferenceECDF, NDArray[np.float64], NDArray[np.int64]] | None = PrivateAttr(default=None)

    def __eq__(self, other: object) -> bool:
        """Profiles are equal when their fields are; the array cache does not count."""
        if not isinstance(other, NumericProfile):
            return NotImplemented
        return self.model_dump() == other.model_dump()

    __hash__ = None  # type: ignore[assignment]

    def arrays(self) -> tuple[ReferenceECDF, NDArray[np.float64], NDArray[np.int64]]:
        """The sample as an ECDF, the bin edges and the bin counts as arrays (built once per profile)."""
        if self._arrays is None:
            self._arrays = (
                ReferenceECDF.from_sorted(np.asarray(self.sample, dtype=np.float64)),
                np.asarray(self.bin_edges, dtype=np.float64),
                np.asarray(self.bin_counts, dtype=np.int64),
            )
        return self._arrays


class CategoricalProfile(StrictModel):
    """Reference distribution of one categorical column."""

    kind: Literal["categorical"] = "categorical"
    """Column kind; categorical columns get chi-square, PSI and Jensen-Shannon tests."""
    dtype: str
    """pandas dtype of the reference column."""
    count: int = Field(ge=0)
    """Non-missing reference values."""
    null_count: int = Field(ge=0)
    """Missing reference values."""
    null_rate: float = Field(ge=0, le=1)
    """``null_count / (count + null_count)``."""
    counts: dict[str, int] = Field(default_factory=dict)
    """Reference count per category (values as strings), most frequent first."""


FeatureProfile = Annotated[NumericProfile | CategoricalProfile, Field(discriminator="kind")]


class ReferenceProfile(StrictModel):
    """Everything drift detection needs to know about the reference data."""

    schema_version: Literal[1, 2] = 2
    """Version of this file format: 2 records the values of numeric columns of few values (``values``) and profiles
    booleans as categorical; a version 1 profile is still read, its columns tested as it recorded them."""
    rows: int = Field(ge=0)
    """Rows of the reference data."""
    bins: int = Field(default=DEFAULT_BINS, ge=2)
    """Quantile bins requested per numeric feature (fewer when quantiles coincide)."""
    sample_size: int = Field(default=DEFAULT_SAMPLE_SIZE, ge=10)
    """Largest sample kept per numeric feature."""
    features: dict[str, FeatureProfile]
    """Input features by column name, in column order."""
    prediction: FeatureProfile | None = None
    """The model's predictions on the reference data, profiled like a feature named ``prediction``."""
    metrics: dict[str, float] = Field(default_factory=dict)
    """Reference model quality when labels were given (:func:`~.performance.performance_metrics`: ``auc`` and
    ``accuracy`` for binary models, ``macro_f1`` and ``accuracy`` for multiclass ones, ``rmse``, ``mae`` and ``r2``
    for regressors)."""
    task: Literal["binary", "multiclass", "regression"] | None = None
    """The model's task; None for profiles written before tasks were recorded (the task is then inferred from
    the labels). ``prediction`` holds the positive-class probability (binary), the predicted class (multiclass,
    profiled as categorical) or the predicted value (regression)."""
    classes: list[bool | int | float | str] | None = None
    """Class labels of a classifier, sorted (the positive class of a binary model is the last)."""

    def to_json(self) -> str:
        return self.model_dump_json(indent=1)

    def save(self, path: str | Path) -> Path:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(self.to_json())
        return target

    @classmethod
    def load(cls, path: str | Path) -> ReferenceProfile:
        """Read a profile file; errors name the file and what is wrong with it."""
        source = Path(path)
        try:
            text = source.read_text()
        except FileNotFoundError:
            raise ProfileError(
                f"reference profile {source} does not exist: pass the {PROFILE_FILENAME} artifact of the training run"
            ) from None
        try:
            return cls.model_validate(json.loads(text))
        except (ValueError, TypeError) as exc:
            raise ProfileError(f"{source} is not a reference profile: {exc}") from None


def repeated_names(columns: Any) -> list[str]:
    """Column names that occur more than once once read as text (profiles key columns by ``str(name)``)."""
    counts = Counter(map(str, columns))
    return sorted(name for name, count in counts.items() if count > 1)


def value_key(value: float) -> str:
    """The key of a numeric value in ``NumericProfile.values`` (``-0.0`` and ``0.0`` are one value)."""
    return repr(float(value) + 0.0)


def numeric_values(series: pd.Series) -> NDArray[np.float64]:
    """The column as float64 with missing and non-finite values as NaN."""
    values = np.array(series.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64, copy=True)
    values[~np.isfinite(values)] = np.nan
    return values


def _label(value: object) -> str:
    """A category as text; integral floats print as integers, so 3 and 3.0 (an int column that gained
    nulls in parquet) are the same category."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


COUNT_CHUNK = 1 << 16
"""Values counted per call: pandas' hash-table count holds the GIL for a whole call (15 to 20 ms per million
strings), so a long column is taken in chunks, between which the threads summarising numeric columns get to run."""


def _add_counts(totals: dict[Any, int], keys: Any, counts: list[int]) -> None:
    """Add ``counts[i]`` to ``totals[keys[i]]`` (a new key goes last, so first appearance orders the keys)."""
    for key, count in zip(keys, counts, strict=True):
        totals[key] = totals.get(key, 0) + count


def _counted(codes: np.ndarray, uniques: Any) -> tuple[Any, np.ndarray]:
    """``uniques`` and how often each code occurs (``-1``, missing, left out)."""
    return uniques, np.bincount(codes + 1, minlength=len(uniques) + 1)[1:]


def _chunk_counts(values: np.ndarray) -> tuple[Any, np.ndarray]:
    """The distinct non-missing values of ``values`` in order of first appearance, and how often each occurs.

    An object column takes pandas' hash-table count (what ``Series.value_counts`` runs, without the index it would
    build, which infers a type from the keys and turns datetimes into Timestamps), keeping the missing values (None,
    NaN, NA, NaT) as keys and dropping them after: asking it to drop them tests every value for missingness, four
    times the cost of the count itself, and ``pd.factorize`` also builds a codes array and takes three times as long.
    Other columns, and pandas versions without that function, are factorized."""
    if values.dtype == object and _hash_counts is not None:
        found = _hash_counts(values, dropna=False)
        keys, counts = found[0], found[1]
        present = ~pd.isna(keys)
        return keys[present], counts[present]
    return _counted(*pd.factorize(values, use_na_sentinel=True))


def _value_counts(values: np.ndarray) -> tuple[Any, np.ndarray]:
    """The distinct non-missing values in order of first appearance, and how often each occurs."""
    if values.size > COUNT_CHUNK:
        totals: dict[Any, int] = {}
        try:
            for start in range(0, values.size, COUNT_CHUNK):
                uniques, counts = _chunk_counts(values[start : start + COUNT_CHUNK])
                _add_counts(totals, uniques, counts.tolist())
            return list(totals), np.fromiter(totals.values(), dtype=np.int64, count=len(totals))
        except TypeError:  # values Python cannot compare across chunks (a Decimal beside a numpy integer): one call
            pass
    return _chunk_counts(values)


def categorical_values(series: pd.Series) -> pd.Series:
    """Non-missing category counts of a column with categories as strings, most frequent first (ties in order of
    first appearance, or of the categories for a categorical column; values with the same label, such as 3 and 3.0,
    counted as one)."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        uniques, counts = _counted(series.cat.codes.to_numpy(), series.cat.categories)
    else:
        uniques, counts = _value_counts(series.to_numpy())
    present = [(_label(value), count) for value, count in zip(uniques, counts.tolist(), strict=True) if count > 0]
    totals: dict[str, int] = {}
    _add_counts(totals, [label for label, _ in present], [count for _, count in present])
    ordered = sorted(totals.items(), key=lambda item: -item[1])
    return pd.Series(
        [count for _, count in ordered], index=pd.Index([label for label, _ in ordered], dtype=object), dtype=np.int64
    )


def _is_numeric(series: pd.Series) -> bool:
    """Profiled as numeric: a numeric dtype other than boolean (a boolean column is categorical, as Evidently infers
    it). Integer columns are numeric, as when Evidently is told so; Evidently's own inference would make one of at
    most 10 values categorical, which ``build_profile(categorical=...)`` asks for by name."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(dtype):
        return False
    return not pd.api.types.is_bool_dtype(dtype)


def _numeric_profile(series: pd.Series, bins: int, sample_size: int) -> NumericProfile:
    values = numeric_values(series)
    finite = np.sort(values[~np.isnan(values)])
    count = int(finite.size)
    nulls = int(values.size - count)
    rate = nulls / values.size if values.size else 0.0
    if count == 0:
        return NumericProfile(dtype=str(series.dtype), count=0, null_count=nulls, null_rate=rate)
    edges = np.unique(np.quantile(finite, np.linspace(0.0, 1.0, bins + 1)[1:-1]))
    if count > sample_size:
        picks = ((np.arange(sample_size) + 0.5) * (count / sample_size)).astype(np.int64)
        sample = finite[picks]
    else:
        sample = finite
    few = None
    if 1 + int(np.count_nonzero(np.diff(finite))) <= LOW_CARDINALITY:
        distinct, counts = np.unique(finite, return_counts=True)
        few = {value_key(v): int(c) for v, c in zip(distinct, counts, strict=True)}
    return NumericProfile(
        dtype=str(series.dtype),
        count=count,
        null_count=nulls,
        null_rate=rate,
        values=few,
        mean=float(np.mean(finite)),
        std=float(np.std(finite)),
        min=float(finite[0]),
        max=float(finite[-1]),
        bin_edges=edges.tolist(),
        bin_counts=binned_counts(edges, finite).tolist(),
        sample=sample.tolist(),
    )


def _categorical_profile(series: pd.Series) -> CategoricalProfile:
    counts = categorical_values(series)
    count = int(counts.sum())
    nulls = int(len(series) - count)
    return CategoricalProfile(
        dtype=str(series.dtype),
        count=count,
        null_count=nulls,
        null_rate=nulls / len(series) if len(series) else 0.0,
        counts={str(k): int(v) for k, v in counts.items()},
    )


def _profile_column(series: pd.Series, categorical: bool, bins: int, sample_size: int) -> FeatureProfile:
    if categorical or not _is_numeric(series):
        return _categorical_profile(series)
    return _numeric_profile(series, bins, sample_size)


def build_profile(
    df: pd.DataFrame,
    prediction: np.ndarray | None,
    categorical: list[str],
    *,
    bins: int = DEFAULT_BINS,
    sample_size: int = DEFAULT_SAMPLE_SIZE,
    labels: np.ndarray | None = None,
    task: Literal["binary", "multiclass", "regression"] | None = None,
    classes: list[bool | int | float | str] | None = None,
) -> ReferenceProfile:
    """Profile the reference data ``df`` (one column per model input) and the model's predictions on it.

    Columns named in ``categorical`` and every non-numeric column are profiled as categorical, the
    others as numeric. ``prediction`` holds one value per row (for two-class probabilities of shape
    ``(rows, 2)`` the second column is used). With ``labels`` the profile also records the reference
    model quality, so performance drift can be measured when labels of the current window arrive. ``task`` and
    ``classes`` are recorded; a multiclass ``prediction`` (the predicted class) is profiled as categorical.
    """
    if not isinstance(df, pd.DataFrame):
        raise ProfileError(
            f"the reference data must be a pandas DataFrame, one column per model input, got {type(df).__name__}"
        )
    if df.shape[1] == 0 or len(df) == 0:
        raise ProfileError(
            f"the reference data has {len(df)} rows and {df.shape[1]} columns: profile the training data (or a "
            "sample of it), one column per model input"
        )
    twice = repeated_names(df.columns)
    if twice:
        raise ProfileError(f"the reference data has columns {twice} more than once: give each column once")
    if bins < 2:
        raise ProfileError(f"bins must be at least 2, got {bins}")
    if sample_size < 10:
        raise ProfileError(f"sample_size must be at least 10, got {sample_size}")
    unknown = sorted(set(categorical) - set(map(str, df.columns)))
    if unknown:
        raise ProfileError(
            f"categorical columns {unknown} are not columns of the reference data: "
            f"choose among {list(map(str, df.columns))}"
        )
    if PREDICTION in df.columns:
        raise ProfileError(
            f"the reference data has a column named {PREDICTION!r}: rename it, the name is "
            "reserved for the model's predictions"
        )
    wanted = set(categorical)
    features = {str(name): _profile_column(df[name], str(name) in wanted, bins, sample_size) for name in df.columns}
    pred_profile: FeatureProfile | None = None
    metrics: dict[str, float] = {}
    if prediction is not None:
        pred = _prediction_vector(prediction, len(df))
        pred_profile = _profile_column(pd.Series(pred, name=PREDICTION), task == "multiclass", bins, sample_size)
        if labels is not None:
            metrics = performance_metrics(np.asarray(labels), pred, task=task, classes=classes)
    elif labels is not None:
        raise ProfileError("labels were given without predictions: pass the model's predictions on the same rows")
    return ReferenceProfile(
        rows=len(df),
        bins=bins,
        sample_size=sample_size,
        features=features,
        prediction=pred_profile,
        metrics=metrics,
        task=task,
        classes=classes,
    )


def _prediction_vector(prediction: np.ndarray, rows: int) -> np.ndarray:
    pred = np.asarray(prediction)
    if pred.ndim == 2 and pred.shape[1] in (1, 2):
        pred = pred[:, -1]
    if pred.ndim != 1 or pred.shape[0] != rows:
        raise ProfileError(
            f"prediction has shape {np.asarray(prediction).shape} but the reference data has {rows} rows: "
            "pass one prediction per row (or two-class probabilities of shape (rows, 2))"
        )
    return pred

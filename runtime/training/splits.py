"""Deterministic train/holdout splits.

With an entity column the split hashes each entity id: a customer is in the holdout of every
dataset that contains it, so a champion and a challenger trained on different extracts are
still compared on rows neither was fitted on. Without one, a seeded split is used, stratified by the
label for classifiers (when every class has at least two rows).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

__all__ = ["holdout_mask", "split_frame"]


def holdout_mask(
    frame: pd.DataFrame, fraction: float, *, entity_column: str | None, label: str, seed: int, stratify: bool = True
) -> np.ndarray:
    """Boolean mask of holdout rows."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"holdout fraction must be in (0, 1), got {fraction}")
    if entity_column and entity_column in frame.columns:
        salt = f"mlops-holdout:{seed}:".encode()
        buckets = np.fromiter(
            (
                int.from_bytes(hashlib.sha256(salt + str(v).encode()).digest()[:8], "big") / 2.0**64
                for v in frame[entity_column].to_numpy()
            ),
            dtype=float,
            count=len(frame),
        )
        return buckets < fraction
    positions = np.arange(len(frame))
    strata = None
    if stratify and label in frame.columns:
        counts = frame[label].value_counts()
        if len(counts) > 1 and counts.min() >= 2 and not frame[label].isna().any():
            strata = frame[label]
    _, test = train_test_split(positions, test_size=fraction, random_state=seed, stratify=strata)
    mask = np.zeros(len(frame), dtype=bool)
    mask[test] = True
    return mask


def split_frame(
    frame: pd.DataFrame, fraction: float, *, entity_column: str | None, label: str, seed: int, stratify: bool = True
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(train, holdout)``, each with a fresh index, rows in their original order (``stratify``: by label)."""
    mask = holdout_mask(frame, fraction, entity_column=entity_column, label=label, seed=seed, stratify=stratify)
    if mask.all() or not mask.any():
        raise ValueError(f"holdout of {len(frame)} rows at fraction {fraction} is empty or everything; add rows")
    return frame[~mask].reset_index(drop=True), frame[mask].reset_index(drop=True)

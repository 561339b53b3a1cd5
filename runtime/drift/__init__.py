"""Drift detection: reference profiles, per-feature statistical tests, reports and metrics.

The training run stores a :class:`ReferenceProfile` (:func:`build_profile`); the drift job compares a
window of prediction logs with it (:func:`detect_drift`) and writes a JSON and an HTML report.
"""

from .detector import default_test, detect_drift
from .profile import PROFILE_FILENAME, ProfileError, ReferenceProfile, build_profile
from .report import DriftReport, FeatureDrift, Finding

__all__ = [
    "PROFILE_FILENAME",
    "DriftReport",
    "FeatureDrift",
    "Finding",
    "ProfileError",
    "ReferenceProfile",
    "build_profile",
    "default_test",
    "detect_drift",
]

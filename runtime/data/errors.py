"""Errors of reading training data: a location that cannot be read, and pinned data that is not there any more."""

from __future__ import annotations

__all__ = ["DataLoadError", "DataPinError"]


class DataLoadError(RuntimeError):
    """The data location cannot be read."""


class DataPinError(DataLoadError):
    """A recorded input version cannot be read again, or its content is not what was recorded."""

"""Online feature enrichment: requests that carry entity keys get their missing features looked up."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

__all__ = ["FeatureLookup", "StaticFeatureLookup"]


@runtime_checkable
class FeatureLookup(Protocol):
    """Fetches online feature values by entity key (the Feast online store in production).

    ``get_features`` returns one list per requested feature, aligned with ``entity_ids``; a missing
    value is ``None``. It is called off the event loop, so it may block.
    """

    entity_key: str
    """Name of the entity key (``customer_id``): an input tensor of that name carries the keys."""

    def get_features(self, entity_ids: Sequence[Any], features: Sequence[str]) -> Mapping[str, list[Any]]: ...


class StaticFeatureLookup:
    """An in-memory table of feature rows keyed by entity id (for tests and local runs)."""

    def __init__(self, rows: Mapping[Any, Mapping[str, Any]], entity_key: str = "customer_id") -> None:
        self.rows = dict(rows)
        self.entity_key = entity_key
        self.calls = 0

    def get_features(self, entity_ids: Sequence[Any], features: Sequence[str]) -> Mapping[str, list[Any]]:
        self.calls += 1
        return {f: [self.rows.get(e, {}).get(f) for e in entity_ids] for f in features}

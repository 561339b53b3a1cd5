"""The exact inputs a training run read (``data_versions.json``), so the run can be repeated on the same data.

Every object the loader reads is recorded with the sha256 and size of its bytes, and with what names that
version in its store:

- ``s3://``: the object's ``VersionId`` and ``ETag`` (for a prefix, every object below it); an object of a bucket
  without versioning has no ``VersionId`` and is pinned by its ``ETag``, so reading it again fails once it changed;
- ``gs://``: the object's generation;
- a local file: the sha256 of its bytes;
- ``generated://``: the dataset's parameters and seed (the frame is regenerated from them);
- ``feast://``: the feature view, the feature references, the entity rows' time range, and the versions of the
  entity file itself.

:meth:`DataVersions.pin` turns the record into the ``pin`` the loader takes (object URI -> ``VersionId``,
``etag:<ETag>``, generation or sha256), under which it reads those versions and nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime

from pulumi_mlops.runtime.config import StrictModel
from pydantic import Field

from .generator import GeneratedDataset

__all__ = [
    "DATA_VERSIONS_ARTIFACT",
    "DATA_VERSIONS_TAG",
    "DataPin",
    "DataVersions",
    "FeastInput",
    "InputObject",
    "pinned_under",
]

DATA_VERSIONS_ARTIFACT = "data_versions.json"
"""Run artifact holding the :class:`DataVersions` of the run."""
DATA_VERSIONS_TAG = "mlops.data_versions"
"""Run tag holding the pin (``{object: version}``, JSON) when it is short enough for a tag."""
ETAG_PIN = "etag:"
"""Prefix of the pin of an S3 object read from a bucket without versioning (no ``VersionId``)."""
_MAX_TAG = 5000
_SHOWN = 20

DataPin = Mapping[str, str]
"""Object URI (``s3://bucket/key``, ``gs://bucket/key`` or a file's path) -> ``VersionId``, ``etag:<ETag>``,
generation or sha256."""


class InputObject(StrictModel):
    """One object or file a run read."""

    uri: str
    """``s3://bucket/key``, ``gs://bucket/key``, or the file's path as the data location names it."""
    sha256: str
    """sha256 of the bytes read."""
    size: int = Field(ge=0)
    """Bytes read."""
    version_id: str | None = None
    """S3 ``VersionId`` (None for an object of a bucket without versioning)."""
    etag: str | None = None
    """S3 ``ETag``."""
    generation: str | None = None
    """Cloud Storage generation."""

    @property
    def pin(self) -> str:
        """What names this version in its store: the ``VersionId``, ``etag:<ETag>``, generation or sha256."""
        if self.uri.startswith("s3://"):
            return self.version_id or f"{ETAG_PIN}{self.etag}"
        if self.uri.startswith("gs://"):
            return str(self.generation)
        return self.sha256

    def describe(self) -> str:
        if self.uri.startswith("s3://"):
            version = f"version {self.version_id}" if self.version_id else "no version (bucket not versioned)"
            return f"{self.uri} {version}, ETag {self.etag}, sha256 {self.sha256[:12]}, {self.size} bytes"
        if self.uri.startswith("gs://"):
            return f"{self.uri} generation {self.generation}, sha256 {self.sha256[:12]}, {self.size} bytes"
        return f"{self.uri} sha256 {self.sha256}, {self.size} bytes"


class FeastInput(StrictModel):
    """The point-in-time join a ``feast://`` location made."""

    feature_view: str
    """Feature view the features were joined from."""
    feature_refs: list[str]
    """Feature references (``view:feature``) asked for."""
    repo: str
    """Feast repository the store was read from."""
    entity_rows: int = Field(ge=0)
    """Entity rows asked for."""
    entity_since: datetime | None = None
    """Earliest entity timestamp."""
    entity_until: datetime | None = None
    """Latest entity timestamp."""
    entities: DataVersions
    """Versions of the entity file (or objects) the entity rows were read from."""


class DataVersions(StrictModel):
    """What a run read from its data location, and at which versions."""

    location: str
    """The data location as the spec names it."""
    objects: list[InputObject] = Field(default_factory=list)
    """Every object or file read, in the order read (empty for ``generated://`` and ``feast://``)."""
    generated: GeneratedDataset | None = None
    """Parameters and seed of a ``generated://`` dataset."""
    feast: FeastInput | None = None
    """The feature view, references and entity rows of a ``feast://`` location."""
    window: tuple[datetime, datetime] | None = None
    """The ``[since, until)`` period of ``event_timestamp`` the run kept (a retraining's fresh window)."""

    def all_objects(self) -> list[InputObject]:
        """The objects read, the entity file's included."""
        return [*self.objects, *(self.feast.entities.all_objects() if self.feast else [])]

    def pin(self) -> dict[str, str]:
        """The loader's ``pin``: object URI -> version, for every object read."""
        return {o.uri: o.pin for o in self.all_objects()}

    def tag_value(self) -> str | None:
        """The pin as a compact JSON tag value, or None when it is too long for a tag (the artifact holds it)."""
        value = json.dumps(self.pin(), sort_keys=True, separators=(",", ":"))
        return value if len(value) <= _MAX_TAG else None

    def describe(self) -> list[str]:
        """One line per input, for the model card and ``mlops reproduce``."""
        lines: list[str] = []
        if self.generated is not None:
            g = self.generated
            shift = "none" if g.shift.is_none else g.shift.model_dump_json()
            lines.append(f"{self.location}: generated {g.name}, {g.rows} rows, seed {g.seed}, shift {shift}")
        if self.feast is not None:
            f = self.feast
            span = f"{_iso(f.entity_since)} to {_iso(f.entity_until)}"
            lines.append(
                f"{self.location}: Feast view {f.feature_view} ({len(f.feature_refs)} features) of {f.repo}, "
                f"{f.entity_rows} entity rows from {span}"
            )
        objects = self.all_objects()
        lines += [o.describe() for o in objects[:_SHOWN]]
        if len(objects) > _SHOWN:
            lines.append(f"... and {len(objects) - _SHOWN} more objects ({DATA_VERSIONS_ARTIFACT} lists all)")
        if self.window is not None:
            lines.append(f"rows with event_timestamp in [{_iso(self.window[0])}, {_iso(self.window[1])})")
        return lines


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value is not None else "-"


def pinned_under(base: str, pin: DataPin) -> list[str]:
    """The pinned objects at ``base`` or below it (``base/...``), sorted; the pinned read of a location."""
    root = base.rstrip("/")
    return sorted(uri for uri in pin if uri == root or uri.startswith(root + "/"))


FeastInput.model_rebuild()

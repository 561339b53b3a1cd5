"""Small objects (audit events, drift reports) at a local path or under an ``s3://`` / ``gs://`` prefix.

On the platform a pod's filesystem is an emptyDir that disappears with the pod, so what must outlive it
goes to a bucket. Objects are only ever created, never appended to or rewritten: S3 and Cloud Storage
cannot append, and a writer that only creates new keys needs no delete permission (Cloud Storage asks
for ``storage.objects.delete`` to overwrite). ``s3://`` honours ``MLOPS_S3_ENDPOINT_URL``.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pyarrow.fs as pafs

from .config import RuntimeSettings

__all__ = ["BUCKET_SCHEMES", "filesystem", "is_bucket_uri", "join", "list_objects", "put_object", "read_object"]

BUCKET_SCHEMES = ("s3", "gs")


def is_bucket_uri(location: str | Path) -> bool:
    """Whether ``location`` names an object store (``s3://`` or ``gs://``) rather than a local path."""
    return urlsplit(str(location)).scheme in BUCKET_SCHEMES


def join(location: str | Path, *parts: str) -> str:
    """``location/part/...`` for a path or a bucket URI (no doubled slashes)."""
    return "/".join([str(location).rstrip("/"), *(p.strip("/") for p in parts if p)])


def filesystem(location: str | Path, settings: RuntimeSettings) -> tuple[pafs.FileSystem, str]:
    """The pyarrow filesystem and the path inside it that ``location`` names."""
    text = str(location)
    parts = urlsplit(text)
    if parts.scheme == "s3":
        endpoint = urlsplit(settings.s3_endpoint_url) if settings.s3_endpoint_url else None
        fs: pafs.FileSystem = pafs.S3FileSystem(
            endpoint_override=endpoint.netloc if endpoint else None,
            scheme=endpoint.scheme if endpoint else "https",
        )
        return fs, f"{parts.netloc}{parts.path}".rstrip("/")
    if parts.scheme == "gs":
        return pafs.GcsFileSystem(), f"{parts.netloc}{parts.path}".rstrip("/")
    if parts.scheme in ("", "file"):
        path = Path(parts.path if parts.scheme == "file" else text).expanduser().resolve()
        return pafs.LocalFileSystem(), str(path)
    raise ValueError(f"{text}: unsupported scheme {parts.scheme!r}; use a local path, s3:// or gs://")


def put_object(location: str | Path, payload: bytes, settings: RuntimeSettings) -> str:
    """Create the object (or local file) ``location`` holding ``payload``; returns ``location``.

    In a bucket this is one upload (no listing, no bucket metadata read); locally the parent folders are created.
    """
    fs, path = filesystem(location, settings)
    if isinstance(fs, pafs.LocalFileSystem):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    with fs.open_output_stream(path) as stream:
        stream.write(payload)
    return str(location)


def list_objects(prefix: str | Path, settings: RuntimeSettings, suffix: str = "") -> list[str]:
    """Locations of the objects (files) below ``prefix`` whose names end with ``suffix``, sorted."""
    fs, path = filesystem(prefix, settings)
    if fs.get_file_info(path).type == pafs.FileType.NotFound:
        return []
    infos = fs.get_file_info(pafs.FileSelector(path, recursive=True, allow_not_found=True))
    names = sorted(i.path for i in infos if i.type == pafs.FileType.File and i.path.endswith(suffix))
    root = str(prefix).rstrip("/")
    return [root + name[len(path) :] for name in names]


def read_object(location: str | Path, settings: RuntimeSettings) -> bytes:
    """The bytes of the object (or local file) ``location``."""
    fs, path = filesystem(location, settings)
    with fs.open_input_stream(path) as stream:
        return bytes(stream.read())

"""Input and output locations: a local path, ``s3://`` (honouring ``MLOPS_S3_ENDPOINT_URL``) or ``gs://``."""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

import pyarrow.fs as pafs
from pulumi_mlops.runtime.config import RuntimeSettings

__all__ = ["BatchInputError", "atomic_write", "file_digest", "filesystem_for", "read_text"]

_BLOCK = 1 << 20


class BatchInputError(ValueError):
    """The batch input, output or model does not fit the run (missing column, unreadable location, ...)."""


def filesystem_for(location: str, settings: RuntimeSettings) -> tuple[pafs.FileSystem, str]:
    """The pyarrow filesystem and the path inside it that ``location`` names."""
    parts = urlsplit(location)
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
        from pathlib import Path

        path = Path(parts.path if parts.scheme == "file" else location).expanduser().resolve()
        return pafs.LocalFileSystem(), str(path)
    raise BatchInputError(f"{location}: unsupported scheme {parts.scheme!r}; use a path, s3:// or gs://")


def file_digest(fs: pafs.FileSystem, path: str) -> str:
    """sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with fs.open_input_stream(path) as stream:
        while block := stream.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def read_text(fs: pafs.FileSystem, path: str) -> str | None:
    """The text of ``path``, or None when it does not exist."""
    if fs.get_file_info(path).type == pafs.FileType.NotFound:
        return None
    with fs.open_input_stream(path) as stream:
        return bytes(stream.read()).decode("utf-8")


def atomic_write(fs: pafs.FileSystem, path: str, payload: bytes) -> None:
    """Write ``payload`` to ``path.tmp`` and move it over ``path``: readers never see a partial file."""
    parent = path.rsplit("/", 1)[0]
    fs.create_dir(parent, recursive=True)
    temporary = f"{path}.tmp"
    with fs.open_output_stream(temporary) as stream:
        stream.write(payload)
    fs.move(temporary, path)

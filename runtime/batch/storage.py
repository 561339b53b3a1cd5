"""Input and output locations: a local path, ``s3://`` (honouring ``MLOPS_S3_ENDPOINT_URL``) or ``gs://``."""

from __future__ import annotations

import hashlib

import pyarrow.fs as pafs
from pulumi_mlops.runtime.config import RuntimeSettings
from pulumi_mlops.runtime.storage import filesystem

__all__ = ["BatchInputError", "atomic_write", "file_digest", "filesystem_for", "read_text"]

_BLOCK = 1 << 20


class BatchInputError(ValueError):
    """The batch input, output or model does not fit the run (missing column, unreadable location, ...)."""


def filesystem_for(location: str, settings: RuntimeSettings) -> tuple[pafs.FileSystem, str]:
    """The pyarrow filesystem and the path inside it that ``location`` names (:func:`runtime.storage.filesystem`)."""
    try:
        return filesystem(location, settings)
    except ValueError as err:
        raise BatchInputError(str(err)) from None


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


def atomic_write(fs: pafs.FileSystem, path: str, payload: bytes, *, temporary: str | None = None) -> None:
    """Write ``payload`` to ``temporary`` (default ``path.tmp``) and move it over ``path``: readers never see a
    partial file. Writers that may run at once give each its own ``temporary``."""
    parent = path.rsplit("/", 1)[0]
    fs.create_dir(parent, recursive=True)
    temporary = temporary or f"{path}.tmp"
    with fs.open_output_stream(temporary) as stream:
        stream.write(payload)
    fs.move(temporary, path)

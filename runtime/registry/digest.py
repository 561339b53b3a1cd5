"""Content digests of model artifacts, recorded at registration and verified at load."""

from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = ["DIGEST_TAG", "DigestMismatchError", "directory_digest", "verify_directory"]

DIGEST_TAG = "mlops.artifact_sha256"
"""Model-version tag that holds the sha256 of the model directory."""


class DigestMismatchError(RuntimeError):
    """The artifact on disk is not the artifact that was registered."""


def directory_digest(path: str | Path) -> str:
    """sha256 over every file's relative path and bytes, in sorted path order."""
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"model directory {root} does not exist")
    digest = hashlib.sha256()
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(file.relative_to(root).as_posix().encode())
        digest.update(b"\0")
        with file.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        digest.update(b"\0")
    return digest.hexdigest()


def verify_directory(path: str | Path, expected: str) -> None:
    """Raise :class:`DigestMismatchError` unless the directory hashes to ``expected``."""
    actual = directory_digest(path)
    if actual != expected:
        raise DigestMismatchError(
            f"model artifact at {path} has sha256 {actual[:12]}..., registered {expected[:12]}...: refusing to load"
        )

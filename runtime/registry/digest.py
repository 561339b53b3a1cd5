"""Content digests of model artifacts, recorded at registration and verified at every load.

One rule, used by registry loading (``promote``, ``batch-predict``, ``retrain``) and by the model server alike:
the digest covers every file of the model directory (the folder holding ``MLmodel``) except those MLflow
itself writes there when a version is loaded the normal MLflow way (:data:`MLFLOW_WRITTEN`: loading
``models:/name@alias`` with ``mlflow.sklearn.load_model`` or ``mlflow models serve`` writes
``registered_model_meta`` into the stored artifacts of a local artifact store, and into every download).
Digests recorded before this rule are unchanged by it: MLflow never wrote that file at registration.

Beside the directory digest (``mlops.artifact_sha256``) registration records the sha256 of each file
(``mlops.artifact_files``), so a refused load names the file that differs.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

__all__ = [
    "DIGEST_TAG",
    "FILES_TAG",
    "MLFLOW_WRITTEN",
    "DigestMismatchError",
    "directory_digest",
    "file_digests",
    "files_tag_value",
    "scan_directory",
    "verify_directory",
]

DIGEST_TAG = "mlops.artifact_sha256"
"""Model-version tag that holds the sha256 of the model directory."""
FILES_TAG = "mlops.artifact_files"
"""Model-version tag that holds ``{relative path: sha256}`` of every covered file (JSON)."""
MLFLOW_WRITTEN = frozenset({"registered_model_meta"})
"""Files at the top of a model directory that MLflow writes when it loads a ``models:/`` URI; not covered."""
_MAX_FILES_TAG = 5000
"""Longest ``mlops.artifact_files`` value recorded; beyond it the tag is left out (the digest still guards)."""


class DigestMismatchError(RuntimeError):
    """The artifact on disk is not the artifact that was registered."""


def _covered(root: Path) -> list[Path]:
    files = (p for p in root.rglob("*") if p.is_file())
    return sorted(p for p in files if p.relative_to(root).as_posix() not in MLFLOW_WRITTEN)


def scan_directory(path: str | Path) -> tuple[str, dict[str, str]]:
    """``(directory digest, {relative path: file sha256})`` in one read of every covered file."""
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"model directory {root} does not exist")
    digest = hashlib.sha256()
    files: dict[str, str] = {}
    for file in _covered(root):
        relative = file.relative_to(root).as_posix()
        own = hashlib.sha256()
        digest.update(relative.encode())
        digest.update(b"\0")
        with file.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
                own.update(chunk)
        digest.update(b"\0")
        files[relative] = own.hexdigest()
    return digest.hexdigest(), files


def directory_digest(path: str | Path) -> str:
    """sha256 over every covered file's relative path and bytes, in sorted path order."""
    return scan_directory(path)[0]


def file_digests(path: str | Path) -> dict[str, str]:
    """``{relative path: sha256}`` of every covered file."""
    return scan_directory(path)[1]


def files_tag_value(files: dict[str, str]) -> str | None:
    """The ``mlops.artifact_files`` tag value of ``files``, or None when it would be too long to record."""
    value = json.dumps(files, sort_keys=True, separators=(",", ":"))
    return value if len(value) <= _MAX_FILES_TAG else None


def _differences(actual: dict[str, str], registered: dict[str, str]) -> list[str]:
    changed = [f"{p} (sha256 {actual[p][:12]}..., registered {registered[p][:12]}...)" for p in sorted(actual)
               if p in registered and actual[p] != registered[p]]  # fmt: skip
    added = [f"{p} (not registered)" for p in sorted(set(actual) - set(registered))]
    missing = [f"{p} (registered, missing)" for p in sorted(set(registered) - set(actual))]
    return [*changed, *added, *missing]


def verify_directory(path: str | Path, expected: str, files: str | dict[str, str] | None = None) -> None:
    """Raise :class:`DigestMismatchError` unless the directory hashes to ``expected``.

    ``files`` (the ``mlops.artifact_files`` tag, JSON or parsed) lets the message name the differing files.
    """
    actual, found = scan_directory(path)
    if actual == expected:
        return
    registered: dict[str, str] | None = None
    if isinstance(files, str):
        try:
            parsed = json.loads(files)
            registered = {str(k): str(v) for k, v in parsed.items()} if isinstance(parsed, dict) else None
        except json.JSONDecodeError:
            registered = None
    elif files is not None:
        registered = files
    differing = _differences(found, registered) if registered is not None else []
    if differing:
        which = f"{', '.join(differing)} differ{'s' if len(differing) == 1 else ''} from the registered files"
    elif registered is not None:
        which = f"every file matches {FILES_TAG}, so the directory digest itself was changed"
    else:
        which = f"which file differs is unknown (the version has no {FILES_TAG} tag)"
    raise DigestMismatchError(
        f"model artifact at {path} has sha256 {actual[:12]}..., registered {expected[:12]}...: {which}; "
        "refusing to load"
    )

"""Physical bucket names. S3 and Cloud Storage bucket names are global, so a bucket's name carries the stack
(``<name>-<environment>``), its role and the cloud scope it lives in: ``<account id>-<region>`` on AWS, the
project id on GCP. Being deterministic, the name is known during preview, so every URI that names the
bucket can be checked against it."""

from __future__ import annotations

import hashlib

__all__ = ["MAX_BUCKET_NAME", "bucket_name"]

MAX_BUCKET_NAME = 63
"""Longest S3 bucket name, and longest Cloud Storage bucket name without dots."""


def bucket_name(stem: str, role: str, scope: str) -> str:
    """``<stem>-<role>-<scope>``; over 63 characters the stem is cut and a hash of the full name keeps it unique."""
    full = f"{stem}-{role}-{scope}"
    if len(full) <= MAX_BUCKET_NAME:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:6]
    keep = MAX_BUCKET_NAME - len(role) - len(scope) - len(digest) - 3
    if keep < 1:
        raise ValueError(f"bucket role {role!r} and scope {scope!r} leave no room for a name within 63 characters")
    return f"{stem[:keep].rstrip('-')}-{digest}-{role}-{scope}"

"""Shared fixtures: stack previews are computed once per session (each is a full in-process run)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pulumi_mlops.preview import PreviewResult, preview_stack

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def previews() -> Callable[[str], PreviewResult]:
    """``previews("dev")``: the cached preview of a stack."""
    cache: dict[str, PreviewResult] = {}

    def get(stack: str) -> PreviewResult:
        if stack not in cache:
            cache[stack] = preview_stack(stack, ROOT)
        return cache[stack]

    return get

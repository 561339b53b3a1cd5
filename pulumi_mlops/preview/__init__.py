"""Credential-free preview: run the Pulumi program under mocks and capture the resource graph."""

from .graph import CapturedResource, ResourceGraph, plain
from .monitor import CapturingMonitor, DuplicateResourceError
from .runner import PreviewResult, flatten_config, preview_stack, repo_root, run_program

__all__ = [
    "CapturedResource",
    "CapturingMonitor",
    "DuplicateResourceError",
    "PreviewResult",
    "ResourceGraph",
    "flatten_config",
    "plain",
    "preview_stack",
    "repo_root",
    "run_program",
]

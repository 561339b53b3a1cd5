"""Run a Pulumi program in-process under mocks, with a stack's config, and capture its graph.

Every run is isolated: a fresh root stack, event loop, config and mocks, so previewing two
stacks in one process gives the same graphs as previewing them in two.
"""

from __future__ import annotations

import asyncio
import json
import runpy
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.stack import run_in_stack

from pulumi_mlops.spec import PROJECT, PlatformSpec, load_stack_config, parse_spec, stack_file
from pulumi_mlops.spec.loading import CONFIG_KEY

from .graph import ResourceGraph
from .mocks import PlatformMocks
from .monitor import CapturingMonitor

__all__ = ["PreviewResult", "flatten_config", "preview_stack", "repo_root", "run_program"]

SECRET_PLACEHOLDER = "preview-secret-{key}"


def repo_root() -> Path:
    """The project root (the folder holding ``Pulumi.yaml``)."""
    here = Path(__file__).resolve()
    for parent in [Path.cwd(), *here.parents]:
        if (parent / "Pulumi.yaml").is_file() and (parent / "stacks").is_dir():
            return parent
    raise FileNotFoundError("cannot find Pulumi.yaml with a stacks/ folder above the working directory")


@dataclass
class PreviewResult:
    """A previewed stack: its spec and the captured graph."""

    spec: PlatformSpec
    graph: ResourceGraph


def flatten_config(config: Mapping[str, Any]) -> tuple[dict[str, str], list[str]]:
    """Stack-file config as the engine passes it: strings, structured values JSON-encoded,
    ``secure:`` values replaced by placeholders and marked secret."""
    flat: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, value in config.items():
        full = key if ":" in key else f"{PROJECT}:{key}"
        if isinstance(value, dict) and set(value) == {"secure"}:
            flat[full] = SECRET_PLACEHOLDER.format(key=full.split(":", 1)[1])
            secret_keys.append(full)
        elif isinstance(value, str):
            flat[full] = value
        else:
            flat[full] = json.dumps(value)
    return flat, secret_keys


class _Placeholder(pulumi.Resource):
    """Stands in as root while ``set_mocks`` runs so it does not register a stack of its own."""

    def __init__(self) -> None:
        pass


def run_program(
    program: Callable[[], Any] | Path,
    config: Mapping[str, Any],
    *,
    project: str = PROJECT,
    stack: str = "dev",
    mocks: PlatformMocks | None = None,
    root: Path | None = None,
    preview: bool = False,
) -> ResourceGraph:
    """Run ``program`` (a callable or a ``__main__.py`` path) under mocks and return its graph.

    Registration sites are recorded relative to ``root`` (default: the project root, when one is found). With
    ``preview`` the SDK runs as during ``pulumi preview``: outputs the mocks do not return are unknown and the
    ``apply`` callbacks on them are skipped, so inputs computed from them are captured as unknown.
    """
    flat, secret_keys = flatten_config(config)
    mocks = mocks or PlatformMocks()
    if root is None:
        try:
            root = repo_root()
        except FileNotFoundError:
            root = None
    monitor = CapturingMonitor(mocks, root)
    previous_loop = None
    try:
        previous_loop = asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        previous_loop = None
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        pulumi.runtime.set_all_config(flat, secret_keys)
        pulumi_settings.ROOT.set(_Placeholder())
        pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=preview, monitor=monitor)
        pulumi_settings.ROOT.set(None)
        monitor.graph.project, monitor.graph.stack = project, stack

        def body() -> None:
            if isinstance(program, Path):
                sys.path.insert(0, str(program.parent))
                try:
                    runpy.run_path(str(program), run_name="__main__")
                finally:
                    sys.path.remove(str(program.parent))
            else:
                program()

        loop.run_until_complete(run_in_stack(body))
    finally:
        pulumi_settings.ROOT.set(None)
        pulumi.runtime.set_all_config({}, [])
        loop.close()
        asyncio.set_event_loop(previous_loop if previous_loop and not previous_loop.is_closed() else None)
    return monitor.graph


def preview_stack(stack: str, root: Path | None = None, *, faithful: bool = False) -> PreviewResult:
    """Validate ``stacks/Pulumi.<stack>.yaml`` and run ``stacks/__main__.py`` under mocks with it.

    The default answers every registration with plausible cloud values, so every input resolves and every check
    runs. ``faithful`` previews as ``pulumi preview`` does before the first ``up``: a resource's computed outputs
    (ids, ARNs, endpoints) are unknown, and so is every input derived from them.
    """
    root = root or repo_root()
    stacks_dir = root / "stacks"
    path = stack_file(stack, stacks_dir)
    config = load_stack_config(path)
    spec = parse_spec(config[CONFIG_KEY], source=str(path.relative_to(root)))
    mocks = PlatformMocks(
        region=spec.region, gcp_project=spec.gcp_project or "preview-project", computed_outputs=not faithful
    )
    graph = run_program(stacks_dir / "__main__.py", config, stack=stack, mocks=mocks, root=root, preview=faithful)
    return PreviewResult(spec=spec, graph=graph)

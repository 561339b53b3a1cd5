"""A mock resource monitor that records every registration the way the engine would see it."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.settings import get_project, get_stack
from pulumi.runtime.sync_await import _sync_await

from .graph import CapturedResource, ResourceGraph

__all__ = ["CapturingMonitor", "DuplicateResourceError", "is_sdk_file", "registration_site"]

STACK_TYPE = "pulumi:pulumi:Stack"
PACKAGE_DIRS = frozenset({"site-packages", "dist-packages"})


def is_sdk_file(path: Path) -> bool:
    """Whether ``path`` belongs to an installed Pulumi SDK or provider package (``pulumi``, ``pulumi_aws``, ...)."""
    parts = path.parts
    for i, part in enumerate(parts[:-1]):
        if part in PACKAGE_DIRS:
            top = parts[i + 1]
            return top == "pulumi" or (top.startswith("pulumi_") and top != "pulumi_mlops")
    return False


def registration_site(request: Any, root: Path | None) -> tuple[str, int]:
    """``(file, line)`` where the program constructed the resource of a ``RegisterResourceRequest``.

    The SDK sends the construction stack with each registration (``stackTrace``, innermost frame first, starting
    at the caller of the resource's constructor); the first frame outside the Pulumi SDK and provider packages is
    the program's (a provider's component building children counts as the program line that built it). The file
    is relative to ``root`` when inside it. ``("", 0)`` when the request carries no usable frame.
    """
    for frame in request.stackTrace.frames:
        uri, line = frame.pc.uri, frame.pc.line
        if not uri.startswith("file:") or line < 1:
            continue
        path = Path(unquote(urlparse(uri).path))
        if is_sdk_file(path):
            continue
        if root is not None and path.is_relative_to(root):
            return path.relative_to(root).as_posix(), line
        return path.as_posix(), line
    return "", 0


class DuplicateResourceError(RuntimeError):
    """Two resources registered the same URN (the engine refuses this too)."""


class CapturingMonitor(pulumi_mocks.MockMonitor):
    """Records type, name, parent, dependencies, options, wire inputs and the registration site (file and line,
    relative to ``root``) of each resource."""

    def __init__(self, mocks: pulumi_mocks.Mocks, root: Path | None = None) -> None:
        super().__init__(mocks)
        self.root = root.resolve() if root is not None else None
        self._lock = threading.Lock()
        self._qualified: dict[str, str] = {}
        self.graph = ResourceGraph(project="", stack="")
        self.stack_urn: str | None = None

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        """Engine-style URN: the type is qualified by every ancestor component's type."""
        qualified = type_
        if parent and parent != self.stack_urn:
            parent_qualified = self._qualified.get(parent)
            if parent_qualified is None:
                parent_qualified = parent.split("::")[2]
            qualified = f"{parent_qualified}${type_}"
        return "urn:pulumi:" + "::".join([get_stack(), get_project(), qualified, name])

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        if request.type == STACK_TYPE:
            urn = "urn:pulumi:" + "::".join([get_stack(), get_project(), STACK_TYPE, request.name])
            with self._lock:
                self.stack_urn = urn
                self.graph.project, self.graph.stack = get_project(), get_stack()
            return resource_pb2.RegisterResourceResponse(urn=urn)

        pulumi_mocks._ensure_event_loop()
        inputs = rpc.deserialize_properties(request.object, keep_unknowns=True)
        with self._lock:
            urn = self.make_urn(request.parent, request.type, request.name)
            if urn in self.graph.resources:
                raise DuplicateResourceError(f"duplicate resource URN {urn}: give each resource a unique name")
            self._qualified[urn] = urn.split("::")[2]
        args = pulumi_mocks.MockResourceArgs(
            typ=request.type,
            name=request.name,
            inputs=inputs,
            provider=request.provider,
            resource_id=request.importId,
            custom=request.custom or False,
            transforms=pulumi_mocks._resolve_callbacks(request.transforms),
        )
        id_, state = self.mocks.new_resource(args)
        source_file, source_line = registration_site(request, self.root)
        captured = CapturedResource(
            urn=urn,
            type=request.type,
            name=request.name,
            custom=bool(request.custom),
            parent=request.parent if request.parent and request.parent != self.stack_urn else None,
            inputs=inputs,
            dependencies=list(request.dependencies),
            property_dependencies={k: list(v.urns) for k, v in request.propertyDependencies.items()},
            provider=request.provider or None,
            protect=bool(request.protect),
            ignore_changes=list(request.ignoreChanges),
            delete_before_replace=bool(request.deleteBeforeReplace),
            retain_on_delete=bool(request.retainOnDelete),
            source_file=source_file,
            source_line=source_line,
        )
        with self._lock:
            self.graph.resources[urn] = captured
            self.resources[urn] = pulumi_mocks.MockMonitor.ResourceRegistration(urn, id_ or "", state)
        obj_proto = _sync_await(rpc.serialize_properties(state, {}))
        return resource_pb2.RegisterResourceResponse(urn=urn, id=id_ or "", object=obj_proto)

    def RegisterResourceOutputs(self, request: Any) -> Any:  # noqa: N802
        if request.urn == self.stack_urn:
            outputs = rpc.deserialize_properties(request.outputs, keep_unknowns=True)
            with self._lock:
                self.graph.outputs = dict(outputs)
        return super().RegisterResourceOutputs(request)

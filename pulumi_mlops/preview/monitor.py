"""A mock resource monitor that records every registration the way the engine would see it."""

from __future__ import annotations

import threading
from typing import Any

from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.settings import get_project, get_stack
from pulumi.runtime.sync_await import _sync_await

from .graph import CapturedResource, ResourceGraph

__all__ = ["CapturingMonitor", "DuplicateResourceError"]

STACK_TYPE = "pulumi:pulumi:Stack"


class DuplicateResourceError(RuntimeError):
    """Two resources registered the same URN (the engine refuses this too)."""


class CapturingMonitor(pulumi_mocks.MockMonitor):
    """Records type, name, parent, dependencies, options and wire inputs of each resource."""

    def __init__(self, mocks: pulumi_mocks.Mocks) -> None:
        super().__init__(mocks)
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

"""Pulumi mocks that answer like the clouds would, so dependent values resolve realistically.

``new_resource`` echoes the inputs and adds the outputs other resources read (ids, ARNs,
endpoints); ``call`` answers the data-source invokes the components use. An invoke with no
handler is an error naming its token, so a new data source cannot pass silently.
"""

from __future__ import annotations

from typing import Any

import pulumi

from .invokes import INVOKES, render_policy_document
from .outputs import ACCOUNT_ID, GCP_PROJECT_NUMBER, OUTPUTS, UNIQUE_SUFFIX, aws_arn

__all__ = [
    "ACCOUNT_ID",
    "GCP_PROJECT_NUMBER",
    "INVOKES",
    "OUTPUTS",
    "UNIQUE_SUFFIX",
    "PlatformMocks",
    "UnmockedInvokeError",
    "render_policy_document",
]


class UnmockedInvokeError(RuntimeError):
    """A component called a data source the preview has no answer for."""


class PlatformMocks(pulumi.runtime.Mocks):
    """Answers resource registrations and invokes with plausible cloud values."""

    def __init__(
        self, region: str = "us-east-1", gcp_project: str = "preview-project", *, computed_outputs: bool = True
    ) -> None:
        self.region = region
        self.gcp_project = gcp_project
        self.computed_outputs = computed_outputs
        """False: answer a registration with its inputs only, as ``pulumi preview`` knows a resource it has yet to
        create (with ``set_mocks(preview=True)`` every other output is unknown)."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        state = dict(args.inputs)
        if not args.custom:
            return None, state
        if not self.computed_outputs:
            return args.resource_id or None, state
        resource_id = args.resource_id or f"{args.name}-id"
        if args.typ.startswith("aws:"):
            service = args.typ.split(":")[1].split("/")[0]
            state.setdefault("arn", aws_arn(self, service, args.name))
        if args.typ.startswith("gcp:"):
            state.setdefault("project", self.gcp_project)
        extra = OUTPUTS.get(args.typ)
        if extra is not None:
            outputs = extra(self, args.name, args.inputs)
            resource_id = str(outputs.pop("id", resource_id))
            state.update(outputs)
        state.setdefault("name", args.inputs.get("name", args.name))
        return resource_id, state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        handler = INVOKES.get(args.token)
        if handler is None:
            raise UnmockedInvokeError(
                f"offline preview has no answer for invoke {args.token}: add a handler to "
                "pulumi_mlops.preview.mocks.INVOKES"
            )
        return handler(self, args.args), []

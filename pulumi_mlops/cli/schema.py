"""``mlops schema``: the JSON schema of stack config files, for editors."""

from __future__ import annotations

import json
from typing import Any

import typer

__all__ = ["register", "stack_file_schema"]


def stack_file_schema() -> dict[str, Any]:
    """JSON schema of ``PlatformSpec`` with a ``StackFile`` definition for whole ``Pulumi.<stack>.yaml`` files."""
    from pulumi_mlops.spec import CONFIG_KEY, PlatformSpec

    schema = PlatformSpec.model_json_schema()
    defs = schema.setdefault("$defs", {})
    defs["StackFile"] = {
        "type": "object",
        "description": "A Pulumi stack file of the pulumi-mlops project.",
        "properties": {
            "config": {
                "type": "object",
                "properties": {CONFIG_KEY: {"$ref": "#"}},
                "required": [CONFIG_KEY],
                "additionalProperties": True,
            }
        },
        "required": ["config"],
    }
    return schema


def register(app: typer.Typer) -> None:
    @app.command("schema")
    def schema() -> None:
        """Print the JSON schema of the platform config (stacks/platform.schema.json)."""
        print(json.dumps(stack_file_schema(), indent=2, sort_keys=True))

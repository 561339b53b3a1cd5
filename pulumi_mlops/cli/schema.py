"""``mlops schema``: the JSON schema of stack config files, for editors."""

from __future__ import annotations

import json
from typing import Any

import typer

__all__ = ["register", "stack_file_schema"]


def stack_file_schema() -> dict[str, Any]:
    """JSON schema of a whole ``Pulumi.<stack>.yaml``: the platform spec under ``config.pulumi-mlops:platform``."""
    from pulumi_mlops.spec import CONFIG_KEY, PlatformSpec

    platform = PlatformSpec.model_json_schema()
    defs = platform.pop("$defs", {})
    defs["PlatformSpec"] = platform
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "pulumi-mlops stack file",
        "type": "object",
        "properties": {
            "config": {
                "type": "object",
                "properties": {CONFIG_KEY: {"$ref": "#/$defs/PlatformSpec"}},
                "required": [CONFIG_KEY],
                "additionalProperties": True,
            }
        },
        "required": ["config"],
        "$defs": defs,
    }


def register(app: typer.Typer) -> None:
    @app.command("schema")
    def schema() -> None:
        """Print the JSON schema of the platform config (stacks/platform.schema.json)."""
        print(json.dumps(stack_file_schema(), indent=2, sort_keys=True))

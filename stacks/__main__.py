"""The pulumi-mlops program: validate the stack's ``PlatformSpec``, build the cloud, then the platform services."""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi_mlops.components.k8s import ClusterContext, PlatformServices, PlatformServicesArgs
from pulumi_mlops.components.k8s.platform_services import GRAFANA_ADMIN_PASSWORD, MLFLOW_ADMIN_PASSWORD

from pulumi_mlops.spec import CONFIG_KEY, PROJECT, PlatformSpec, SpecError, parse_spec


def load_spec(config: pulumi.Config) -> PlatformSpec:
    try:
        return parse_spec(
            config.require_object("platform"), source=f"Pulumi.{pulumi.get_stack()}.yaml", root=f"config.{CONFIG_KEY}"
        )
    except SpecError as err:
        raise pulumi.RunError(str(err)) from None


def build_cloud(spec: PlatformSpec) -> tuple[ClusterContext, dict[str, Any]]:
    if spec.cloud == "aws":
        from pulumi_mlops.components.aws import AwsPlatform, AwsPlatformArgs

        aws_platform = AwsPlatform(spec.name, AwsPlatformArgs(spec=spec))
        return aws_platform.cluster_context, aws_platform.exports
    from pulumi_mlops.components.gcp import GcpPlatform, GcpPlatformArgs

    gcp_platform = GcpPlatform(spec.name, GcpPlatformArgs(spec=spec))
    return gcp_platform.cluster_context, gcp_platform.exports


def stack_secrets(config: pulumi.Config, spec: PlatformSpec) -> dict[str, pulumi.Input[str]]:
    """Alert receiver URLs (required) and admin passwords (optional: random otherwise) from stack config."""
    secrets: dict[str, pulumi.Input[str]] = {
        r.url_secret: config.require_secret(r.url_secret) for r in spec.monitoring.receivers
    }
    for key in (MLFLOW_ADMIN_PASSWORD, GRAFANA_ADMIN_PASSWORD):
        value = config.get_secret(key)
        if value is not None:
            secrets[key] = value
    return secrets


def main() -> None:
    config = pulumi.Config(PROJECT)
    spec = load_spec(config)
    context, cloud_exports = build_cloud(spec)
    services = PlatformServices(
        f"{spec.name}-services",
        PlatformServicesArgs(spec=spec, context=context, secrets=stack_secrets(config, spec)),
    )
    pulumi.export("environment", spec.environment)
    pulumi.export("profile", spec.profile)
    for key, value in {**cloud_exports, **services.exports}.items():
        pulumi.export(key, value)


main()

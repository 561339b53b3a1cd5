"""The pulumi-mlops program: validate the stack's ``PlatformSpec`` and build the platform on its cloud."""

from __future__ import annotations

import pulumi

from pulumi_mlops.spec import CONFIG_KEY, PROJECT, SpecError, parse_spec


def main() -> None:
    config = pulumi.Config(PROJECT)
    raw = config.require_object("platform")
    try:
        spec = parse_spec(raw, source=f"Pulumi.{pulumi.get_stack()}.yaml", root=f"config.{CONFIG_KEY}")
    except SpecError as err:
        raise pulumi.RunError(str(err)) from None

    if spec.cloud == "aws":
        from pulumi_mlops.components.aws import AwsPlatform, AwsPlatformArgs

        exports = AwsPlatform(spec.name, AwsPlatformArgs(spec=spec)).exports
    else:
        from pulumi_mlops.components.gcp import GcpPlatform, GcpPlatformArgs

        exports = GcpPlatform(spec.name, GcpPlatformArgs(spec=spec)).exports

    pulumi.export("environment", spec.environment)
    pulumi.export("profile", spec.profile)
    for key, value in exports.items():
        pulumi.export(key, value)


main()

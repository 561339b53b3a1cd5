"""Encryption in transit where a resource check cannot see it: an RDS instance accepts only TLS connections when its
parameter group forces it (``rds.force_ssl`` for PostgreSQL, ``require_secure_transport`` for MySQL and MariaDB), the
way ``cloudsql-require-ssl`` holds Cloud SQL to TLS and ``elasticache-encryption``/``memorystore-encryption-auth``
hold Redis to it."""

from __future__ import annotations

from pulumi_policy import Policy, PolicyResource, ReportViolation, StackValidationArgs

from ._base import get, iter_dicts, stack_policy

__all__ = ["POLICIES", "RESOURCE_TYPES"]

RDS_INSTANCE = "aws:rds/instance:Instance"
RDS_PARAMETER_GROUP = "aws:rds/parameterGroup:ParameterGroup"
RESOURCE_TYPES: tuple[str, ...] = (RDS_INSTANCE, RDS_PARAMETER_GROUP)
"""Every resource type a policy of this module checks."""

POLICIES: list[Policy] = []

TLS_PARAMETERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "postgres": ("rds.force_ssl", ("1",)),
    "mysql": ("require_secure_transport", ("1", "ON", "on")),
    "mariadb": ("require_secure_transport", ("1", "ON", "on")),
}
"""Engine -> the parameter that refuses plain-text connections and the values that turn it on."""


def _group_names(group: PolicyResource) -> set[str]:
    return {str(v) for v in (get(group.props, "name"), group.name) if v}


def _forces_tls(group: PolicyResource, parameter: str, values: tuple[str, ...]) -> bool:
    return any(
        str(get(p, "name")) == parameter and str(get(p, "value")) in values
        for p in iter_dicts(get(group.props, "parameters"))
    )


@stack_policy(
    "rds-require-tls",
    "Every PostgreSQL, MySQL or MariaDB RDS instance uses a parameter group of the stack that sets rds.force_ssl to 1 "
    "(PostgreSQL) or require_secure_transport to ON (MySQL, MariaDB).",
    RESOURCE_TYPES,
    registry=POLICIES,
)
def _rds_tls(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    groups = [r for r in args.resources if r.resource_type == RDS_PARAMETER_GROUP]
    for db in (r for r in args.resources if r.resource_type == RDS_INSTANCE):
        engine = str(get(db.props, "engine", "")).removeprefix("aurora-")
        if engine not in TLS_PARAMETERS:
            continue
        parameter, values = TLS_PARAMETERS[engine]
        name = get(db.props, "parameterGroupName")
        if not name:
            report_violation(
                f"{engine} instance uses the default parameter group, which accepts plain-text connections: give it "
                f"an aws.rds.ParameterGroup with {parameter} = {values[0]}",
                db.urn,
            )
            continue
        named = [g for g in groups if str(name) in _group_names(g)]
        if named and not any(_forces_tls(g, parameter, values) for g in named):
            report_violation(
                f"parameter group {name} does not set {parameter} = {values[0]}, so the instance accepts plain-text "
                "connections: add the parameter",
                db.urn,
            )
        elif not named:
            report_violation(
                f"parameter group {name} is not in the stack, so whether it sets {parameter} cannot be checked: "
                "create it in the stack with the parameter",
                db.urn,
            )

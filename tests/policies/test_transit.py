"""TLS in transit for RDS, the way the pack holds Cloud SQL and Redis to it: the prod stack's database passes, and
each way of accepting plain-text connections is named."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pulumi_mlops.policies import policy_config_for

from pulumi_mlops.preview import PreviewResult

from .readiness import baseline, run

Previews = Callable[[str], PreviewResult]
POLICY = "rds-require-tls"


def _db_and_group(graph: Any) -> tuple[Any, Any]:
    [db] = graph.of_type("aws:rds/instance:Instance")
    [group] = graph.of_type("aws:rds/parameterGroup:ParameterGroup")
    return db, group


def test_the_stack_database_forces_tls(previews: Previews) -> None:
    graph, spec = baseline(previews, "prod")
    db, group = _db_and_group(graph)
    assert db.inputs["parameterGroupName"] in (group.inputs.get("name"), group.name)
    assert run(graph, spec, POLICY).violations == []


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda db, group: group.inputs.update(parameters=[]), "does not set rds.force_ssl = 1"),
        (
            lambda db, group: group.inputs.update(parameters=[{"name": "rds.force_ssl", "value": "0"}]),
            "does not set rds.force_ssl = 1",
        ),
        (lambda db, group: db.inputs.pop("parameterGroupName"), "uses the default parameter group"),
        (lambda db, group: db.inputs.update(parameterGroupName="shared-pg"), "is not in the stack"),
    ],
    ids=["no-parameter", "turned-off", "default-group", "outside-group"],
)
def test_each_way_of_accepting_plain_text_is_flagged(
    previews: Previews, change: Callable[[Any, Any], Any], fragment: str
) -> None:
    graph, spec = baseline(previews, "prod")
    change(*_db_and_group(graph))
    [violation] = run(graph, spec, POLICY).violations
    assert violation.mandatory and fragment in violation.message
    assert policy_config_for(spec).get(POLICY) is None, "the policy reads no config"

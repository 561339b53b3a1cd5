"""SARIF 2.1.0 of an offline policy run, placed where code-scanning UIs can show it.

Each result's primary location is the program line that constructed the resource (the registration site the
preview records), with the URN as logical location and the stack file as related location. Fingerprints hash the
policy name and the URN, not the message text, so a reworded message or a moved line keeps its alert.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from . import PACK_NAME

if TYPE_CHECKING:
    from .offline import PolicyReport

__all__ = ["FINGERPRINT_KEY", "SARIF_SCHEMA", "fingerprint", "to_sarif"]

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
FINGERPRINT_KEY = "policyUrnHash/v1"
"""``partialFingerprints`` key of every result."""
INFORMATION_URI = "https://www.pulumi.com/docs/using-pulumi/crossguard/"


def fingerprint(policy: str, urn: str, ordinal: int = 1) -> str:
    """``<sha256 of policy and URN, 32 hex>:<ordinal>``; ``ordinal`` counts results of one policy on one resource
    (the ``hash:n`` convention of GitHub's own ``primaryLocationLineHash``)."""
    digest = hashlib.sha256(f"{policy}\n{urn}".encode()).hexdigest()[:32]
    return f"{digest}:{ordinal}"


def _rule(p: Any) -> dict[str, Any]:
    return {
        "id": p.name,
        "name": "".join(part.capitalize() for part in p.name.split("-")),
        "shortDescription": {"text": p.description},
        "fullDescription": {"text": p.description},
        "defaultConfiguration": {"level": "error" if p.level == "mandatory" else "warning"},
        "properties": {
            "enforcementLevel": p.level,
            "resourceTypes": list(p.resource_types),
            "policyType": "stack" if p.stack_policy else "resource",
            "tags": ["pulumi", "crossguard", "iac"],
        },
    }


def _physical(uri: str, line: int) -> dict[str, Any]:
    return {"artifactLocation": {"uri": uri}, "region": {"startLine": max(line, 1)}}


def to_sarif(report: PolicyReport) -> dict[str, Any]:
    """SARIF 2.1.0: rules are the pack's policies, results its violations, each placed at the program line that
    registered the resource (the stack file, line 1, for the stack itself or a resource with no known site)."""
    from .offline import PACK_VERSION

    index = {p.name: i for i, p in enumerate(report.policies)}
    seen: dict[tuple[str, str], int] = {}
    results = []
    for v in report.violations:
        location: dict[str, Any] = {
            "logicalLocations": [{"name": v.resource_name, "fullyQualifiedName": v.urn, "kind": "resource"}]
        }
        site = report.locations.get(v.urn)
        related: list[dict[str, Any]] = []
        if site is not None:
            location["physicalLocation"] = _physical(*site)
            if report.source:
                related.append(
                    {"id": 1, "physicalLocation": _physical(report.source, 1), "message": {"text": "stack config"}}
                )
        elif report.source:
            location["physicalLocation"] = _physical(report.source, 1)
        seen[(v.policy, v.urn)] = ordinal = seen.get((v.policy, v.urn), 0) + 1
        result: dict[str, Any] = {
            "ruleId": v.policy,
            "level": "error" if v.mandatory else "warning",
            "message": {"text": f"{v.resource_type} {v.resource_name}: {v.message}"},
            "locations": [location],
            "partialFingerprints": {FINGERPRINT_KEY: fingerprint(v.policy, v.urn, ordinal)},
            "properties": {"enforcementLevel": v.level, "unknownDuringPreview": v.unknown},
        }
        if related:
            result["relatedLocations"] = related
        if v.policy in index:
            result["ruleIndex"] = index[v.policy]
        results.append(result)
    driver = {"name": PACK_NAME, "version": PACK_VERSION, "informationUri": INFORMATION_URI}
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {**driver, "rules": [_rule(p) for p in report.policies]}},
                "automationDetails": {"id": f"{PACK_NAME}/{report.stack}/"},
                "results": results,
            }
        ],
    }

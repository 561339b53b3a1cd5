"""Readers of upstream Karpenter files at the pinned release (tag v1.14.1, commit bde0065), read from a copy of
aws/karpenter-provider-aws that ``KARPENTER_SOURCE`` names (a checkout, or its git directory); the tests that
need them skip, saying so, when it is not set. Nothing of upstream's is kept in this repository.

- ``karpenter-cloudformation.yaml``: the getting-started CloudFormation template (the controller's managed
  policies, node role, interruption queue and rules), rendered with a cluster's values.
- ``karpenter.sh_nodepools.yaml``, ``karpenter.k8s.aws_ec2nodeclasses.yaml``: the CRDs of the pinned release; their
  OpenAPI schema validates the specs the component writes.
- ``karpenter-instance-types.md``: the instance-type reference of the GPU families (labels and resources), which
  lets a test list the types a NodePool's requirements admit, as Karpenter would.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "admitted",
    "controller_policies",
    "crd_schema",
    "instance_types",
    "normalized_statements",
    "upstream_template",
]

SOURCE_ENV = "KARPENTER_SOURCE"
COMMIT = "bde00654cd316fddb3dccfba3f5ac07039865429"
"""aws/karpenter-provider-aws tag v1.14.1, the pinned chart's release."""
FILES = {
    "karpenter-cloudformation.yaml": "website/content/en/docs/getting-started/getting-started-with-karpenter/"
    "cloudformation.yaml",
    "karpenter.sh_nodepools.yaml": "pkg/apis/crds/karpenter.sh_nodepools.yaml",
    "karpenter.k8s.aws_ec2nodeclasses.yaml": "pkg/apis/crds/karpenter.k8s.aws_ec2nodeclasses.yaml",
    "karpenter-instance-types.md": "website/content/en/docs/reference/instance-types.md",
}


@cache
def _upstream(name: str) -> str:
    """The text of one upstream file at :data:`COMMIT` (skips the calling test when no copy is named)."""
    import os
    import subprocess

    import pytest

    source = os.environ.get(SOURCE_ENV)
    if not source:
        pytest.skip(f"{SOURCE_ENV} names no copy of aws/karpenter-provider-aws to compare with")
    root = Path(source)
    if (root / "objects").is_dir() or (root / ".git").exists():
        git_dir = root if (root / "objects").is_dir() else root / ".git"
        shown = subprocess.run(
            ["git", f"--git-dir={git_dir}", "show", f"{COMMIT}:{FILES[name]}"],
            capture_output=True,
            text=True,
            check=False,
        )
        if shown.returncode != 0:
            pytest.skip(f"{SOURCE_ENV}={source} has no {FILES[name]} at {COMMIT[:7]}: {shown.stderr.strip()}")
        return shown.stdout
    return (root / FILES[name]).read_text()


class _CloudFormationLoader(yaml.SafeLoader):
    """Reads CloudFormation short-form tags (``!Sub``, ``!GetAtt``, ``!Ref``) as their plain value."""


def _tagged(loader: yaml.SafeLoader, _suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)  # type: ignore[arg-type]


_CloudFormationLoader.add_multi_constructor("!", _tagged)


def upstream_template(values: dict[str, str]) -> dict[str, Any]:
    """The CloudFormation template with ``${...}`` substituted from ``values`` (``AWS::Region``, ``ClusterName``,
    ``KarpenterInterruptionQueue.Arn``...); the documents of the controller's managed policies come back parsed."""
    text = _upstream("karpenter-cloudformation.yaml")
    template: dict[str, Any] = yaml.load(text, Loader=_CloudFormationLoader)

    def substitute(raw: str) -> str:
        def value(match: re.Match[str]) -> str:
            key = match.group(1)
            assert key in values, f"the template uses ${{{key}}}: give it a value"
            return values[key]

        return re.sub(r"\$\{([^}]+)\}", value, raw)

    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::IAM::ManagedPolicy":
            resource["Properties"]["PolicyDocument"] = json.loads(substitute(resource["Properties"]["PolicyDocument"]))
    role = template["Resources"]["KarpenterNodeRole"]["Properties"]
    role["ManagedPolicyArns"] = [substitute(arn) for arn in role["ManagedPolicyArns"]]
    return template


def controller_policies(values: dict[str, str]) -> dict[str, dict[str, Any]]:
    """The controller's policy documents by the template's resource name (``NodeLifecyclePolicy``...): since 1.9
    upstream splits the controller policy into several managed policies."""
    resources = upstream_template(values)["Resources"]
    managed = {name: r for name, r in resources.items() if r["Type"] == "AWS::IAM::ManagedPolicy"}
    return {name: r["Properties"]["PolicyDocument"] for name, r in managed.items()}


def normalized_statements(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Statements by Sid with actions and resources as sorted lists and condition values as sorted lists."""

    def as_sorted(value: Any) -> list[str]:
        return sorted([value] if isinstance(value, str) else value)

    out: dict[str, dict[str, Any]] = {}
    for st in document["Statement"]:
        out[st["Sid"]] = {
            "Effect": st["Effect"],
            "Action": as_sorted(st["Action"]),
            "Resource": as_sorted(st["Resource"]),
            "Condition": {
                test: {variable: as_sorted(v) for variable, v in block.items()}
                for test, block in st.get("Condition", {}).items()
            },
        }
    return out


@cache
def crd_schema(file_name: str) -> dict[str, Any]:
    """``spec`` schema of the ``v1`` version of a vendored CRD."""
    docs = [d for d in yaml.safe_load_all(_upstream(file_name)) if d]
    (version,) = [v for v in docs[0]["spec"]["versions"] if v["name"] == "v1"]
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    return schema


@cache
def instance_types() -> dict[str, dict[str, str]]:
    """Labels and resources of every type of the instance-type reference excerpt, by type name."""
    text = _upstream("karpenter-instance-types.md")
    found: dict[str, dict[str, str]] = {}
    for match in re.finditer(r"^### `([^`]+)`\n(.*?)(?=^### |\Z)", text, flags=re.M | re.S):
        rows = re.findall(r"^\s*\|([a-z0-9./-]+)\|([^|]*)\|", match.group(2), flags=re.M)
        found[match.group(1)] = dict(rows)
    return found


def _satisfies(requirement: dict[str, Any], labels: dict[str, str]) -> bool:
    op, values = requirement["operator"], [str(v) for v in requirement.get("values", [])]
    actual = labels.get(requirement["key"])
    if op == "In":
        return actual in values
    if op == "NotIn":
        return actual not in values
    if op == "Exists":
        return actual is not None
    if op == "DoesNotExist":
        return actual is None
    if op in ("Gt", "Lt"):
        return actual is not None and (int(actual) > int(values[0]) if op == "Gt" else int(actual) < int(values[0]))
    raise AssertionError(f"operator {op} is not modelled")


OFFERING_KEYS = frozenset({"karpenter.sh/capacity-type", "topology.kubernetes.io/zone"})
"""Requirement keys that select offerings (where and how a type is bought), not instance types."""


def admitted(node_pool_spec: dict[str, Any]) -> list[str]:
    """Types of the reference excerpt that meet every instance-type requirement of a NodePool spec."""
    requirements = [r for r in node_pool_spec["template"]["spec"]["requirements"] if r["key"] not in OFFERING_KEYS]
    return sorted(name for name, labels in instance_types().items() if all(_satisfies(r, labels) for r in requirements))

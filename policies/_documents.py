"""One reading of AWS policy documents for every check that looks at them: identity, resource and trust policies.

Parsing, action expansion and the question "can anyone on the internet use this statement" come from
policyuniverse (Netflix-Skunkworks/policyuniverse): its ``Statement`` expands ``iam:Pass*`` and ``NotAction`` to
the actions they cover from its table of every AWS action, reads ``Principal``/``NotPrincipal``, and counts a
condition as an exemption only when it limits who can call: a VPC endpoint or VPC (``aws:SourceVpce``,
``aws:SourceVpc``), an organization (``aws:PrincipalOrgID``, ``aws:PrincipalOrgPaths``), an account
(``aws:SourceAccount``, ``aws:PrincipalAccount``, ``kms:CallerAccount``), an ARN (``aws:SourceArn``,
``aws:PrincipalArn``), a user id, or a CIDR narrower than the internet (``aws:SourceIp``). Any other condition
(``aws:SecureTransport``, ``s3:prefix``, a date) leaves a ``Principal: "*"`` statement public.

On top of it: account-root principals (``arn:aws:iam::<account>:root``, a bare account id, ``*`` as the account),
which trust every principal of that account, and ARNs that name every resource of a service the way ``*`` does
(``arn:aws:s3:::*``, ``arn:*:*:*:*:*``) in any partition.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from policyuniverse.statement import Statement

from ._base import as_list, json_doc

__all__ = [
    "ESCALATION_ACTIONS",
    "StatementView",
    "all_resources_arn",
    "expand_action",
    "is_aws_managed_policy",
    "statement_views",
]

ESCALATION_ACTIONS = frozenset(
    {
        "iam:passrole",
        "iam:createpolicyversion",
        "iam:setdefaultpolicyversion",
        "iam:attachrolepolicy",
        "iam:attachuserpolicy",
        "iam:attachgrouppolicy",
        "iam:putrolepolicy",
        "iam:putuserpolicy",
        "iam:putgrouppolicy",
        "iam:createaccesskey",
        "iam:createloginprofile",
        "iam:updateloginprofile",
        "iam:updateassumerolepolicy",
        "iam:addusertogroup",
        "sts:assumerole",
    }
)
"""Actions that let a caller give itself more permissions (Rhino Security Labs' IAM privilege escalation methods):
a policy must name them, never reach them through a wildcard."""

_ROOT = re.compile(r"^(?:arn:aws[a-z-]*:iam::(?P<account>\d{12}|\*):root|(?P<bare>\d{12}))$")
_MANAGED = re.compile(r"^arn:aws[a-z-]*:iam::aws:policy/")


@lru_cache(maxsize=4096)
def expand_action(pattern: str) -> frozenset[str]:
    """The actions (lowercase ``service:action``) an action pattern covers; ``*`` covers every action."""
    try:
        return frozenset(Statement({"Effect": "Allow", "Action": pattern, "Resource": "*"}).actions_expanded)
    except Exception:  # an action policyuniverse cannot read names itself only
        return frozenset({pattern.lower()})


def all_resources_arn(resource: str) -> bool:
    """Whether an ARN pattern names every resource of its service in every account, like ``*`` does:
    ``arn:aws:s3:::*``, ``arn:aws:s3:::*/*``, ``arn:*:*:*:*:*``, ``arn:aws-cn:iam::*:*``."""
    if resource == "*":
        return True
    parts = resource.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        return False
    _, _, service, region, account, rest = parts
    wild = {"", "*"}
    return region in wild and account in wild and (service == "*" or rest.strip("*/") == "")


def is_aws_managed_policy(arn: str) -> bool:
    """An AWS-managed policy ARN in any partition (``arn:aws:``, ``arn:aws-us-gov:``, ``arn:aws-cn:``)."""
    return _MANAGED.match(arn) is not None


@dataclass(frozen=True)
class StatementView:
    """One statement of a policy document, as the checks read it."""

    index: int
    """Position in the document's ``Statement`` list."""
    raw: Mapping[str, Any]
    """The statement as written."""

    @property
    def label(self) -> str:
        sid = self.raw.get("Sid")
        return f"statement {sid!r}" if sid else f"Statement[{self.index}]"

    @property
    def effect(self) -> str:
        return str(self.raw.get("Effect", "Allow"))

    @property
    def allows(self) -> bool:
        return self.effect == "Allow"

    @property
    def _parsed(self) -> Statement | None:
        try:
            return Statement(dict(self.raw))
        except Exception:
            return None

    @property
    def actions(self) -> frozenset[str]:
        """Every action the statement covers, lowercase (``NotAction`` expanded to its complement)."""
        parsed = self._parsed
        if parsed is None:
            return frozenset(str(a).lower() for a in as_list(self.raw.get("Action")))
        return frozenset(parsed.actions_expanded)

    @property
    def public(self) -> bool:
        """Anyone may use it: ``Principal: "*"`` (or ``{"AWS": "*"}``), or an Allow with ``NotPrincipal``, and no
        condition that limits the callers."""
        if not self.allows:
            return False
        if "NotPrincipal" in self.raw:
            return True
        parsed = self._parsed
        return parsed is not None and bool(parsed.is_internet_accessible())

    @property
    def wildcard_principal(self) -> bool:
        """``Principal: "*"`` or ``{"AWS": "*"}``, whatever the condition."""
        principal = self.raw.get("Principal")
        if principal == "*":
            return True
        return isinstance(principal, Mapping) and "*" in [str(v) for v in as_list(principal.get("AWS"))]

    @property
    def account_roots(self) -> list[str]:
        """The accounts whose root the statement names (every principal of the account; ``*``: any account)."""
        principal = self.raw.get("Principal")
        if not isinstance(principal, Mapping):
            return []
        roots = []
        for value in as_list(principal.get("AWS")):
            match = _ROOT.match(str(value))
            if match:
                roots.append(match.group("account") or match.group("bare"))
        return roots

    @property
    def conditions(self) -> Mapping[str, Any]:
        block = self.raw.get("Condition")
        return block if isinstance(block, Mapping) else {}


def statement_views(doc: Any) -> Iterator[StatementView]:
    """The statements of a policy document (a JSON string or a map; one statement or a list)."""
    parsed = json_doc(doc)
    if not isinstance(parsed, Mapping):
        return
    for i, st in enumerate(as_list(parsed.get("Statement"))):
        if isinstance(st, Mapping):
            yield StatementView(i, st)

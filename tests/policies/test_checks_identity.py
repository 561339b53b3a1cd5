"""Exact messages and edge cases of the IAM, GCP IAM and OIDC trust checks (see ``exact.py``)."""

from __future__ import annotations

from typing import Any

import pytest

from .exact import Exact, reported
from .test_resource_policies import _doc

POLICY = "aws:iam/policy:Policy"
ROLE = "aws:iam/role:Role"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
PROJECT_BINDING = "gcp:projects/iAMBinding:IAMBinding"
BUCKET_MEMBER = "gcp:storage/bucketIAMMember:BucketIAMMember"
SA_MEMBER = "gcp:serviceaccount/iAMMember:IAMMember"
SA_BINDING = "gcp:serviceaccount/iAMBinding:IAMBinding"
WIF = "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider"
ACTIONS = "iam-no-wildcard-actions"
RESOURCES = "iam-no-wildcard-resources"
OIDC = "oidc-trust-pinned"
HOST = "token.actions.githubusercontent.com"
PROVIDER = f"arn:aws:iam::123456789012:oidc-provider/{HOST}"
WHERE = f"assumeRolePolicy Statement[0] ({HOST})"
AUD = {f"{HOST}:aud": "sts.amazonaws.com"}
SUB = f"{HOST}:sub"
ENV_PROD = "repo:acme/app:environment:prod"
NAME_THE_ARNS = "name the ARNs or add a Condition"
POOL = "principalSet://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/ci/*"
WHOLE_POOL = (
    "every identity of the pool: bind the exact subjects (principal://.../subject/<sub>) or one attribute "
    "(principalSet://.../attribute.<name>/<value>)"
)


def _policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"policy": _doc(*statements)}


def _allow(action: Any, resource: Any = "arn:aws:s3:::b/*", **more: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **more}


def _github(condition: Any) -> dict[str, Any]:
    statement = {"Effect": "Allow", "Principal": {"Federated": PROVIDER}, "Action": "sts:AssumeRoleWithWebIdentity"}
    return {"assumeRolePolicy": _doc({**statement, "Condition": condition})}


CASES = [
    Exact("policy-not-json", ACTIONS, POLICY, {"policy": "{"}, ["policy is not a JSON policy document"]),
    Exact(
        "inline-policies-after-a-bad-one",
        ACTIONS,
        ROLE,
        {"inlinePolicies": [{"name": "a", "policy": "{"}, {"name": "b", "policy": _doc(_allow("s3:*"))}]},
        [
            "inlinePolicies[0] is not a JSON policy document",
            "inlinePolicies[1] Statement[0] allows s3:*: list the actions the workload needs",
        ],
    ),
    Exact(
        "not-action",
        ACTIONS,
        POLICY,
        _policy({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}),
        ["policy Statement[0] allows NotAction: list the allowed actions instead"],
    ),
    Exact(
        "statement-without-effect-allows",
        ACTIONS,
        POLICY,
        _policy({"Action": "*", "Resource": "*"}),
        ["policy Statement[0] allows *: list the actions the workload needs"],
    ),
    Exact(
        "service-wildcard-is-reported-once",
        ACTIONS,
        POLICY,
        _policy(_allow(["iam:*", "s3:GetObject"])),
        ["policy Statement[0] allows iam:*: list the actions the workload needs"],
    ),
    Exact(
        "inline-policy-on-every-resource",
        RESOURCES,
        ROLE,
        {"inlinePolicies": [{"name": "a", "policy": _doc(_allow("s3:GetObject", "*"))}]},
        [f"inlinePolicies[0] Statement[0] allows s3:GetObject on Resource '*': {NAME_THE_ARNS}"],
    ),
    Exact(
        "conditions-scope-a-statement-not-the-next",
        RESOURCES,
        POLICY,
        _policy(
            _allow("s3:GetObject", "*", Condition={"StringEquals": {"aws:ResourceTag/team": "ml"}}),
            {"Effect": "Allow", "Action": "s3:PutObject", "NotResource": "arn:aws:s3:::logs/*"},
            _allow(["s3:GetObject", "ec2:DescribeInstances"], ["arn:aws:s3:::*", "arn:aws:s3:::b"]),
        ),
        [
            "policy Statement[1] allows s3:PutObject on NotResource, every resource but the ones listed: name the "
            "ARNs in Resource",
            "policy Statement[2] allows s3:GetObject on arn:aws:s3:::* (every such resource, like '*'): "
            f"{NAME_THE_ARNS}",
        ],
    ),
    Exact(
        "admin-policy-under-a-path",
        "iam-no-admin-managed-policies",
        ATTACHMENT,
        {"role": "r", "policyArn": "arn:aws:iam::aws:policy/job-function/AdministratorAccess"},
        ["AdministratorAccess attached: write a least-privilege policy for the workload"],
    ),
    Exact("attachment-without-arn", "iam-no-admin-managed-policies", ATTACHMENT, {"role": "r"}, []),
    Exact(
        "trust-after-a-deny",
        "iam-role-trust-not-public",
        ROLE,
        {
            "assumeRolePolicy": _doc(
                {"Effect": "Deny", "Principal": "*", "Action": "sts:AssumeRole"},
                {"Sid": "Open", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"},
            )
        },
        [
            "assumeRolePolicy statement 'Open' trusts Principal '*' (any AWS principal; a condition does not make "
            "that safe): name the service, role or OIDC provider"
        ],
    ),
    Exact(
        "project-binding",
        "gcp-no-authoritative-iam",
        PROJECT_BINDING,
        {"role": "roles/viewer", "members": ["user:a@b.c"]},
        ["IAMBinding is authoritative and would drop other grants: use an IAMMember per member instead"],
    ),
    Exact(
        "public-members",
        "gcp-no-public-iam-members",
        PROJECT_BINDING,
        {"role": "roles/storage.objectViewer", "members": ["user:a@b.c", "allUsers", "allAuthenticatedUsers"]},
        ["roles/storage.objectViewer granted to allUsers, allAuthenticatedUsers: grant named principals only"],
    ),
    Exact(
        "public-member",
        "gcp-no-public-iam-members",
        BUCKET_MEMBER,
        {"bucket": "b", "role": "roles/storage.objectViewer", "member": "allUsers"},
        ["roles/storage.objectViewer granted to allUsers: grant named principals only"],
    ),
    Exact("oidc-pinned", OIDC, ROLE, _github({"StringEquals": {**AUD, SUB: ENV_PROD}}), []),
    Exact(
        "oidc-pinned-after-another-operator",
        OIDC,
        ROLE,
        _github({"Null": {"aws:TokenIssueTime": "false"}, "StringEquals": {**AUD, SUB: ENV_PROD}}),
        [],
    ),
    Exact("oidc-literal-star-is-exact", OIDC, ROLE, _github({"StringEquals": {**AUD, SUB: "repo:acme/app:*"}}), []),
    Exact("oidc-exact-pattern-audience", OIDC, ROLE, _github({"StringLike": AUD, "StringEquals": {SUB: ENV_PROD}}), []),
    Exact(
        "oidc-nothing-pinned",
        OIDC,
        ROLE,
        _github({"StringNotEquals": {**AUD, SUB: ENV_PROD}}),
        [
            f"{WHERE} does not pin {HOST}:aud to exact values: require the audience (sts.amazonaws.com)",
            f"{WHERE} does not pin {HOST}:sub: any workload of the issuer could assume the role; require the exact "
            "subjects (repo:<owner>/<repo>:environment:<name>, system:serviceaccount:<ns>:<sa>)",
        ],
    ),
    Exact(
        "oidc-loose-patterns",
        OIDC,
        ROLE,
        _github(
            {
                "StringLike": {
                    f"{HOST}:AUD": "sts.*",
                    SUB: [
                        "repo:acme/app:environment:prod-*",
                        "repo:acme/app:*",
                        "repo:acme/*",
                        "repo:acme/app:environment:*",
                        "repo:acme/app:environment:prod:*",
                        "repo:acme/app:ref:refs/heads/main",
                    ],
                }
            }
        ),
        [
            f"{WHERE} does not pin {HOST}:aud to exact values: require the audience (sts.amazonaws.com)",
            f"{WHERE} lets {HOST}:sub match repo:acme/app:*, repo:acme/*, repo:acme/app:environment:*: every branch, "
            "pull request or environment of the repository (or every service account) could assume the role; list "
            "the exact subjects",
        ],
    ),
    Exact(
        "oidc-service-principal",
        OIDC,
        ROLE,
        {"assumeRolePolicy": _doc({"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"})},
        [],
    ),
    Exact(
        "wif-provider-pinned",
        OIDC,
        WIF,
        {
            "oidc": {"issuerUri": "https://token.actions.githubusercontent.com"},
            "attributeCondition": "assertion.repository == 'acme/app'",
        },
        [],
    ),
    Exact(
        "wif-provider-unpinned",
        OIDC,
        WIF,
        {"oidc": {"issuerUri": "https://gitlab.example"}},
        [
            "attributeCondition '' does not pin the repository: every repository using https://gitlab.example could "
            "exchange its tokens; require assertion.repository == '<owner>/<repo>' (GitLab: assertion.project_path)"
        ],
    ),
    Exact(
        "wif-provider-without-issuer",
        OIDC,
        WIF,
        {"oidc": {"allowedAudiences": ["a"]}, "attributeCondition": "assertion.repository_owner == 'acme'"},
        [
            "attributeCondition \"assertion.repository_owner == 'acme'\" does not pin the repository: every "
            "repository using the issuer could exchange its tokens; require assertion.repository == "
            "'<owner>/<repo>' (GitLab: assertion.project_path)"
        ],
    ),
    Exact("wif-provider-saml", OIDC, WIF, {"saml": {"idpMetadataXml": "<x/>"}}, []),
    Exact(
        "whole-pool-binding",
        OIDC,
        SA_BINDING,
        {"role": "roles/iam.serviceAccountTokenCreator", "members": ["user:a@b.c", POOL]},
        [f"roles/iam.serviceAccountTokenCreator granted to {POOL}, {WHOLE_POOL}"],
    ),
    Exact("whole-pool-other-role", OIDC, SA_MEMBER, {"role": "roles/iam.serviceAccountUser", "member": POOL}, []),
    Exact(
        "pool-subject",
        OIDC,
        SA_MEMBER,
        {"role": "roles/iam.workloadIdentityUser", "member": POOL.replace("/*", "/x")},
        [],
    ),
    Exact(
        "several-service-wildcards-and-escalations",
        ACTIONS,
        POLICY,
        _policy(_allow(["s3:*", "ec2:*", "iam:Pass*", "iam:Attach*"])),
        [
            "policy Statement[0] allows s3:*, ec2:*: list the actions the workload needs",
            "policy Statement[0] allows iam:Pass*, which matches iam:passrole (a privilege escalation): name the "
            "actions, never reach these through a wildcard",
            "policy Statement[0] allows iam:Attach*, which matches iam:attachgrouppolicy, iam:attachrolepolicy, "
            "iam:attachuserpolicy (a privilege escalation): name the actions, never reach these through a wildcard",
        ],
    ),
    Exact(
        "several-actions-on-wide-resources",
        RESOURCES,
        POLICY,
        _policy(
            {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "NotResource": "arn:aws:s3:::logs/*"},
            _allow(["s3:GetObject", "s3:PutObject"], ["arn:aws:s3:::*", "arn:aws:s3:::*/*"]),
        ),
        [
            "policy Statement[0] allows s3:GetObject, s3:PutObject on NotResource, every resource but the ones "
            "listed: name the ARNs in Resource",
            "policy Statement[1] allows s3:GetObject, s3:PutObject on arn:aws:s3:::*, arn:aws:s3:::*/* (every such "
            f"resource, like '*'): {NAME_THE_ARNS}",
        ],
    ),
    Exact(
        "trust-not-principal-and-foreign-root",
        "iam-role-trust-not-public",
        ROLE,
        {
            "assumeRolePolicy": _doc(
                {
                    "Effect": "Allow",
                    "NotPrincipal": {"AWS": "arn:aws:iam::123456789012:root"},
                    "Action": "sts:AssumeRole",
                },
                {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::210987654321:root"}, "Action": "sts:AssumeRole"},
            )
        },
        [
            "assumeRolePolicy Statement[0] trusts Principal '*' (any AWS principal; a condition does not make that "
            "safe): name the service, role or OIDC provider",
            "assumeRolePolicy Statement[1] trusts the root of account 210987654321, so every principal there may "
            "assume the role: name the role that needs it, or list the account in the trustedAccounts config",
        ],
    ),
    Exact(
        "access-key",
        "iam-no-access-keys",
        "aws:iam/accessKey:AccessKey",
        {"user": "ci"},
        ["IAM access key created: use an IAM role for the workload instead"],
    ),
    Exact(
        "service-account-key",
        "gcp-no-service-account-keys",
        "gcp:serviceaccount/key:Key",
        {"serviceAccountId": "sa"},
        ["service account key created: use Workload Identity instead"],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_the_check_reports_exactly(case: Exact) -> None:
    assert reported(case) == case.messages

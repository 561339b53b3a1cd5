"""``CiSpec``: the identities a CI system uses to preview and deploy a stack, federated by OIDC (no stored keys).

The stack creates them (``components/aws/ci_deployer.py``, ``components/gcp/ci_deployer.py``). Each trusts only the
OIDC subjects derived here: a deploy identity for the deployment environments or branches named in the spec, and
a read-only preview identity for pull requests (GitHub) or merge-request pipelines (GitLab).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from pulumi_mlops.runtime.config import StrictModel

__all__ = ["AWS_AUDIENCE", "GITHUB_ISSUER", "CiSpec"]

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
"""OIDC issuer of GitHub Actions' ID tokens."""
AWS_AUDIENCE = "sts.amazonaws.com"
"""Audience the pipelines request for AWS (``aws-actions/configure-aws-credentials``' default; GitLab ``id_tokens``)."""

_GITHUB_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_GITLAB_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$")
_NOT_IN_A_SUBJECT = re.compile(r"[*?:\s]")


class CiSpec(StrictModel):
    """The CI system allowed to preview and deploy this stack, and which of its jobs may do what."""

    provider: Literal["github", "gitlab"] = "github"
    """CI system whose OIDC ID tokens are trusted: GitHub Actions or GitLab CI/CD."""
    repository: str
    """Repository the pipelines run in: ``owner/name`` on GitHub, ``group[/subgroup]/project`` on GitLab."""
    environments: list[str] = Field(default_factory=list)
    """GitHub deployment environments whose jobs may deploy the stack (OIDC subject
    ``repo:<repository>:environment:<name>``). Protect each with required reviewers and the ``main`` branch."""
    branches: list[str] = Field(default_factory=list)
    """Branches whose jobs may deploy (subject ``repo:<repository>:ref:refs/heads/<branch>`` on GitHub,
    ``project_path:<repository>:ref_type:branch:ref:<branch>`` on GitLab). Protect each branch."""
    preview: bool = True
    """Also create a read-only identity for ``pulumi preview`` of pull requests (GitHub subject
    ``repo:<repository>:pull_request``) or of merge-request pipelines (GitLab: any branch of the project)."""
    gitlab_url: str = "https://gitlab.com"
    """The GitLab instance, which is its OIDC issuer (provider gitlab)."""
    oidc_provider_arn: str = ""
    """AWS: ARN of the account's existing IAM OIDC provider for the CI issuer (an account holds one provider per
    issuer URL, so the second stack in an account names the first one's); empty creates one."""

    @field_validator("repository")
    @classmethod
    def _repository(cls, v: str, info: ValidationInfo) -> str:
        provider = info.data.get("provider", "github")
        pattern = _GITHUB_REPOSITORY if provider == "github" else _GITLAB_REPOSITORY
        if not pattern.match(v):
            form = "owner/name" if provider == "github" else "group/project (subgroups allowed)"
            raise ValueError(f"{v!r} is not a {provider} repository path: write {form}")
        return v

    @field_validator("environments", "branches")
    @classmethod
    def _exact_names(cls, v: list[str], info: ValidationInfo) -> list[str]:
        for i, value in enumerate(v):
            if not value or _NOT_IN_A_SUBJECT.search(value):
                raise ValueError(
                    f"[{i}] {value!r} is not an exact name: the trust pins exact OIDC subjects, so list each name "
                    "without wildcards, ':' or spaces"
                )
        if v and info.field_name == "environments" and info.data.get("provider") == "gitlab":
            raise ValueError(
                "GitLab's OIDC subject names the branch, not the environment: list the protected branches that "
                "deploy under branches instead"
            )
        return v

    @field_validator("gitlab_url")
    @classmethod
    def _https(cls, v: str) -> str:
        if not re.match(r"^https://[a-z0-9.-]+(:[0-9]+)?(/[^\s]*)?$", v) or v.endswith("/"):
            raise ValueError(
                f"{v!r} is not a GitLab URL: write it as 'https://gitlab.example.com' (https, no '/' at the end)"
            )
        return v

    @field_validator("oidc_provider_arn")
    @classmethod
    def _provider_arn(cls, v: str, info: ValidationInfo) -> str:
        if not v:
            return v
        issuer = GITHUB_ISSUER if info.data.get("provider") == "github" else info.data.get("gitlab_url", "")
        host = str(issuer).removeprefix("https://")
        if not re.match(rf"^arn:aws:iam::[0-9]{{12}}:oidc-provider/{re.escape(host)}$", v):
            raise ValueError(
                f"{v!r} is not the IAM OIDC provider of {issuer}: write arn:aws:iam::<account>:oidc-provider/{host}"
            )
        return v

    @model_validator(mode="after")
    def _someone_deploys(self) -> CiSpec:
        if not self.environments and not self.branches:
            raise ValueError(
                "name the GitHub environments (environments: [production]) or the protected branches (branches: "
                "[main]) whose jobs may deploy"
            )
        return self

    @property
    def issuer(self) -> str:
        """The OIDC issuer URL of the provider's ID tokens."""
        return GITHUB_ISSUER if self.provider == "github" else self.gitlab_url

    @property
    def deploy_subjects(self) -> list[str]:
        """Exact ``sub`` claims of the jobs that may deploy."""
        if self.provider == "github":
            return [f"repo:{self.repository}:environment:{e}" for e in self.environments] + [
                f"repo:{self.repository}:ref:refs/heads/{b}" for b in self.branches
            ]
        return [f"project_path:{self.repository}:ref_type:branch:ref:{b}" for b in self.branches]

    @property
    def preview_subject(self) -> str:
        """``sub`` of the jobs that may preview: GitHub's exact pull-request subject, or on GitLab a pattern for the
        project's branches (merge-request pipelines run on the source branch)."""
        if self.provider == "github":
            return f"repo:{self.repository}:pull_request"
        return f"project_path:{self.repository}:ref_type:branch:ref:*"

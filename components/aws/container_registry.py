"""ECR repositories for the platform's images: immutable tags, scan on push, KMS encryption."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from pulumi_mlops.spec import RegistrySpec

__all__ = ["ContainerRegistry", "ContainerRegistryArgs", "lifecycle_policy"]


def lifecycle_policy(keep_untagged: int) -> str:
    """ECR lifecycle policy keeping the newest ``keep_untagged`` untagged images."""
    return json.dumps(
        {
            "rules": [
                {
                    "rulePriority": 1,
                    "description": f"Keep the last {keep_untagged} untagged images",
                    "selection": {
                        "tagStatus": "untagged",
                        "countType": "imageCountMoreThan",
                        "countNumber": keep_untagged,
                    },
                    "action": {"type": "expire"},
                }
            ]
        }
    )


@dataclass
class ContainerRegistryArgs:
    """Inputs of :class:`ContainerRegistry`."""

    spec: RegistrySpec
    """Repository names and untagged-image retention (from ``PlatformSpec.registry``)."""
    prefix: str
    """Namespace of the repository names (``<prefix>/<repository>``)."""
    kms_key_arn: pulumi.Input[str]
    """Customer-managed KMS key encrypting the images."""
    force_delete: bool = False
    """Allow deleting repositories that still hold images."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags put on every repository."""


class ContainerRegistry(pulumi.ComponentResource):
    """One ECR repository per name in the spec.

    Outputs: ``repository_urls`` (by repository name), ``registry_url`` (the registry host plus prefix) and
    ``registry_id`` (the account's registry, for push credentials).
    """

    repository_urls: dict[str, pulumi.Output[str]]
    registry_url: pulumi.Output[str]
    registry_id: pulumi.Output[str]

    def __init__(self, name: str, args: ContainerRegistryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pulumi-mlops:aws:ContainerRegistry", name, None, opts)
        spec = args.spec
        self.repository_urls = {}
        repos: list[aws.ecr.Repository] = []
        for repo_name in spec.repositories:
            repo = aws.ecr.Repository(
                f"{name}-{repo_name}",
                name=f"{args.prefix}/{repo_name}",
                image_tag_mutability="IMMUTABLE",
                image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(scan_on_push=True),
                encryption_configurations=[
                    aws.ecr.RepositoryEncryptionConfigurationArgs(encryption_type="KMS", kms_key=args.kms_key_arn)
                ],
                force_delete=args.force_delete,
                tags=dict(args.tags),
                opts=pulumi.ResourceOptions(parent=self),
            )
            aws.ecr.LifecyclePolicy(
                f"{name}-{repo_name}-lifecycle",
                repository=repo.name,
                policy=lifecycle_policy(spec.keep_untagged),
                opts=pulumi.ResourceOptions(parent=repo),
            )
            self.repository_urls[repo_name] = repo.repository_url
            repos.append(repo)
        if repos:
            self.registry_url = repos[0].repository_url.apply(lambda url: url.split("/", 1)[0] + f"/{args.prefix}")
            self.registry_id = repos[0].registry_id
        else:
            self.registry_url = pulumi.Output.from_input("")
            self.registry_id = pulumi.Output.from_input("")
        self.register_outputs(
            {
                "repository_urls": self.repository_urls,
                "registry_url": self.registry_url,
                "registry_id": self.registry_id,
            }
        )

"""An Artifact Registry Docker repository for the platform's training and serving images."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp

from pulumi_mlops.spec import RegistrySpec

__all__ = ["ContainerRegistry", "ContainerRegistryArgs"]

_DAY_SECONDS = 86400


@dataclass
class ContainerRegistryArgs:
    """Inputs of :class:`ContainerRegistry`."""

    spec: RegistrySpec
    """Cleanup: versions kept and the age after which untagged images go (from ``PlatformSpec.registry``)."""
    project: str
    """GCP project id."""
    location: str
    """Repository location (the region)."""
    repository_id: str
    """Repository name."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Labels put on the repository."""


class ContainerRegistry(pulumi.ComponentResource):
    """A Docker repository with immutable tags, cleanup policies and vulnerability scanning.

    Outputs: ``url`` (``<region>-docker.pkg.dev/<project>/<repository>``) and ``repository_id``.
    """

    url: pulumi.Output[str]
    repository_id: pulumi.Output[str]

    def __init__(self, name: str, args: ContainerRegistryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pulumi-mlops:gcp:ContainerRegistry", name, None, opts)
        spec = args.spec
        repo = gcp.artifactregistry.Repository(
            f"{name}-docker",
            project=args.project,
            location=args.location,
            repository_id=args.repository_id,
            format="DOCKER",
            description=f"Images: {', '.join(spec.repositories)}",
            docker_config=gcp.artifactregistry.RepositoryDockerConfigArgs(immutable_tags=True),
            cleanup_policy_dry_run=False,
            cleanup_policies=[
                gcp.artifactregistry.RepositoryCleanupPolicyArgs(
                    id="delete-untagged",
                    action="DELETE",
                    condition=gcp.artifactregistry.RepositoryCleanupPolicyConditionArgs(
                        tag_state="UNTAGGED", older_than=f"{spec.untagged_days * _DAY_SECONDS}s"
                    ),
                ),
                gcp.artifactregistry.RepositoryCleanupPolicyArgs(
                    id="keep-recent",
                    action="KEEP",
                    most_recent_versions=gcp.artifactregistry.RepositoryCleanupPolicyMostRecentVersionsArgs(
                        keep_count=spec.keep_untagged
                    ),
                ),
            ],
            vulnerability_scanning_config=gcp.artifactregistry.RepositoryVulnerabilityScanningConfigArgs(
                enablement_config="INHERITED"
            ),
            labels=dict(args.labels),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.repository_id = repo.repository_id
        self.url = pulumi.Output.concat(args.location, "-docker.pkg.dev/", args.project, "/", repo.repository_id)
        self.register_outputs({"url": self.url, "repository_id": self.repository_id})

"""The Google APIs the platform needs, enabled on the project and never disabled on destroy."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp

__all__ = ["PLATFORM_SERVICES", "ProjectServices", "ProjectServicesArgs"]

PLATFORM_SERVICES = (
    "cloudresourcemanager.googleapis.com",
    "serviceusage.googleapis.com",
    "compute.googleapis.com",
    "container.googleapis.com",
    "containerfilesystem.googleapis.com",
    "storage.googleapis.com",
    "monitoring.googleapis.com",
    "logging.googleapis.com",
    "artifactregistry.googleapis.com",
    "containerscanning.googleapis.com",
    "sqladmin.googleapis.com",
    "redis.googleapis.com",
    "servicenetworking.googleapis.com",
    "secretmanager.googleapis.com",
    "cloudkms.googleapis.com",
    "iam.googleapis.com",
)
"""APIs behind the project look-up and IAM (Cloud Resource Manager), the network, GKE and its image streaming
(Container File System), managed Prometheus and logging, Cloud Storage, Artifact Registry (with scanning), Cloud
SQL, Memorystore, Secret Manager and KMS. ``policies/apis.py`` checks the graph needs no other."""


@dataclass
class ProjectServicesArgs:
    """Inputs of :class:`ProjectServices`."""

    project: str
    """GCP project id."""
    services: Sequence[str] = field(default_factory=lambda: PLATFORM_SERVICES)
    """API service names to enable."""


class ProjectServices(pulumi.ComponentResource):
    """One ``gcp.projects.Service`` per API, with ``disable_on_destroy=False`` (other workloads may use them).

    Outputs: ``services`` (the resources, for ``depends_on``).
    """

    services: list[gcp.projects.Service]

    def __init__(self, name: str, args: ProjectServicesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pulumi-mlops:gcp:ProjectServices", name, None, opts)
        self.services = [
            gcp.projects.Service(
                f"{name}-{service.split('.')[0]}",
                project=args.project,
                service=service,
                disable_on_destroy=False,
                disable_dependent_services=False,
                opts=pulumi.ResourceOptions(parent=self),
            )
            for service in args.services
        ]
        self.register_outputs({"services": [s.service for s in self.services]})

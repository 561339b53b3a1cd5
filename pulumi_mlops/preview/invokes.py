"""What the offline preview answers to the data-source invokes the components call (``aws.iam.get_policy_document``,
``aws.get_caller_identity``, ``gcp.organizations.get_client_config``, ``kubernetes:yaml:decode`` ...), by token."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .outputs import ACCOUNT_ID, GCP_PROJECT_NUMBER, aws_arn, eks_endpoint

if TYPE_CHECKING:
    from .mocks import PlatformMocks

__all__ = ["INVOKES", "InvokeFn", "render_policy_document"]

InvokeFn = Callable[["PlatformMocks", dict[str, Any]], dict[str, Any]]


def render_policy_document(args: dict[str, Any]) -> dict[str, Any]:
    """Render ``aws.iam.get_policy_document`` arguments (wire names) to the IAM JSON the provider returns."""
    statements = []
    for st in args.get("statements") or []:
        out: dict[str, Any] = {}
        if st.get("sid"):
            out["Sid"] = st["sid"]
        out["Effect"] = st.get("effect") or "Allow"
        for key, wire in (("Action", "actions"), ("NotAction", "notActions")):
            if st.get(wire):
                values = sorted(st[wire])
                out[key] = values[0] if len(values) == 1 else values
        for key, wire in (("Resource", "resources"), ("NotResource", "notResources")):
            if st.get(wire):
                values = sorted(st[wire])
                out[key] = values[0] if len(values) == 1 else values
        for key, wire in (("Principal", "principals"), ("NotPrincipal", "notPrincipals")):
            if st.get(wire):
                principals: dict[str, Any] = {}
                for p in st[wire]:
                    ids = sorted(p["identifiers"])
                    principals[p["type"]] = ids[0] if len(ids) == 1 else ids
                out[key] = "*" if principals == {"*": "*"} else principals
        if st.get("conditions"):
            cond: dict[str, dict[str, Any]] = {}
            for c in st["conditions"]:
                values = c["values"]
                cond.setdefault(c["test"], {})[c["variable"]] = values[0] if len(values) == 1 else values
            out["Condition"] = cond
        statements.append(out)
    doc = {"Version": "2012-10-17", "Statement": statements}
    return {"json": json.dumps(doc, indent=2), "minifiedJson": json.dumps(doc, separators=(",", ":"))}


def _caller_identity(m: PlatformMocks, args: dict[str, Any]) -> dict[str, Any]:
    return {
        "accountId": ACCOUNT_ID,
        "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/preview",
        "userId": "AIDAPREVIEW",
        "id": ACCOUNT_ID,
    }


def _region(m: PlatformMocks, args: dict[str, Any]) -> dict[str, Any]:
    return {"name": m.region, "region": m.region, "id": m.region, "description": m.region}


def _zones(m: PlatformMocks, args: dict[str, Any]) -> dict[str, Any]:
    names = [f"{m.region}{s}" for s in "abc"]
    return {"names": names, "zoneIds": [f"use1-az{i}" for i in range(1, 4)], "id": m.region}


def _partition(m: PlatformMocks, args: dict[str, Any]) -> dict[str, Any]:
    return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}


def _eks_get_cluster(m: PlatformMocks, args: dict[str, Any]) -> dict[str, Any]:
    cluster = args.get("name") or "existing"
    found = eks_endpoint(m, cluster)
    return {
        "id": cluster,
        "name": cluster,
        "arn": aws_arn(m, "eks", f"cluster/{cluster}"),
        "endpoint": found["endpoint"],
        "certificateAuthorities": [found["certificateAuthority"]],
        "identities": found["identities"],
        "status": "ACTIVE",
        "version": "1.33",
        "vpcConfig": {
            "clusterSecurityGroupId": f"sg-{cluster}-cluster",
            "vpcId": f"vpc-{cluster}",
            "subnetIds": [f"subnet-{cluster}-a", f"subnet-{cluster}-b"],
            "securityGroupIds": [],
            "endpointPrivateAccess": True,
            "endpointPublicAccess": False,
            "publicAccessCidrs": [],
        },
    }


def _gcp_project(m: PlatformMocks, args: dict[str, Any]) -> dict[str, Any]:
    project = args.get("projectId") or m.gcp_project
    return {"projectId": project, "number": GCP_PROJECT_NUMBER, "name": project, "id": f"projects/{project}"}


def _gcs_service_account(m: PlatformMocks, args: dict[str, Any]) -> dict[str, Any]:
    return {"emailAddress": f"service-{GCP_PROJECT_NUMBER}@gs-project-accounts.iam.gserviceaccount.com"}


def _gke_get_cluster(m: PlatformMocks, args: dict[str, Any]) -> dict[str, Any]:
    name = args.get("name", "cluster")
    location = args.get("location") or m.region
    network = f"projects/{m.gcp_project}/global/networks/{name}-vpc"
    return {
        "id": f"projects/{m.gcp_project}/locations/{location}/clusters/{name}",
        "name": name,
        "location": location,
        "network": network,
        "subnetwork": f"projects/{m.gcp_project}/regions/{m.region}/subnetworks/{name}-nodes",
        "endpoint": "172.16.0.34",
        "masterAuths": [{"clusterCaCertificate": "cHJldmlldy1jYQ=="}],
    }


def _ecr_authorization_token(m: PlatformMocks, args: dict[str, Any]) -> dict[str, Any]:
    registry = args.get("registryId") or ACCOUNT_ID
    password = "preview-ecr-token"
    return {
        "authorizationToken": base64.b64encode(f"AWS:{password}".encode()).decode(),
        "userName": "AWS",
        "password": password,
        "proxyEndpoint": f"https://{registry}.dkr.ecr.{m.region}.amazonaws.com",
        "expiresAt": "2026-01-01T12:00:00Z",
        "registryId": registry,
        "region": m.region,
        "id": m.region,
    }


def _gcp_client_config(m: PlatformMocks, args: dict[str, Any]) -> dict[str, Any]:
    return {
        "accessToken": "ya29.preview-access-token",
        "project": m.gcp_project,
        "region": m.region,
        "zone": f"{m.region}-a",
        "defaultLabels": {},
        "id": f"projects/{m.gcp_project}/regions/{m.region}/zones/{m.region}-a",
    }


def _yaml_decode(m: PlatformMocks, args: dict[str, Any]) -> dict[str, Any]:
    """``kubernetes:yaml:decode`` (``yaml.ConfigGroup``/``ConfigFile`` v1 parse their YAML through it): the objects of
    every document, as the provider returns them."""
    import yaml

    return {"result": [doc for doc in yaml.safe_load_all(str(args.get("text", ""))) if isinstance(doc, dict)]}


INVOKES: dict[str, InvokeFn] = {
    "kubernetes:yaml:decode": _yaml_decode,
    "aws:iam/getPolicyDocument:getPolicyDocument": lambda m, a: render_policy_document(a),
    "aws:index/getCallerIdentity:getCallerIdentity": _caller_identity,
    "aws:index/getRegion:getRegion": _region,
    "aws:index/getAvailabilityZones:getAvailabilityZones": _zones,
    "aws:index/getPartition:getPartition": _partition,
    "aws:eks/getCluster:getCluster": _eks_get_cluster,
    "aws:ecr/getAuthorizationToken:getAuthorizationToken": _ecr_authorization_token,
    "gcp:organizations/getClientConfig:getClientConfig": _gcp_client_config,
    "gcp:organizations/getProject:getProject": _gcp_project,
    "gcp:storage/getProjectServiceAccount:getProjectServiceAccount": _gcs_service_account,
    "gcp:container/getCluster:getCluster": _gke_get_cluster,
}
"""Handlers for data-source invokes, by token."""

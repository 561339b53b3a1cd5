"""Pulumi mocks that answer like the clouds would, so dependent values resolve realistically.

``new_resource`` echoes the inputs and adds the outputs other resources read (ids, ARNs,
endpoints); ``call`` answers the data-source invokes the components use. An invoke with no
handler is an error naming its token, so a new data source cannot pass silently.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from typing import Any

import pulumi

__all__ = ["ACCOUNT_ID", "INVOKES", "OUTPUTS", "PlatformMocks", "render_policy_document"]

ACCOUNT_ID = "123456789012"
GCP_PROJECT_NUMBER = "987654321098"
UNIQUE_SUFFIX = "20260101000000000000000001"
"""What the AWS provider appends to a ``namePrefix`` (a timestamp and a counter, 26 characters)."""

OutputFn = Callable[["PlatformMocks", str, dict[str, Any]], dict[str, Any]]
InvokeFn = Callable[["PlatformMocks", dict[str, Any]], dict[str, Any]]


def _aws_arn(mocks: PlatformMocks, service: str, resource: str) -> str:
    return f"arn:aws:{service}:{mocks.region}:{ACCOUNT_ID}:{resource}"


def _bucket(m: PlatformMocks, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    bucket = inputs.get("bucket") or f"{name}-mock"
    return {
        "bucket": bucket,
        "arn": f"arn:aws:s3:::{bucket}",
        "bucketRegionalDomainName": f"{bucket}.s3.{m.region}.amazonaws.com",
    }


def _kms_key(m: PlatformMocks, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    key_id = f"{name}-key-id"
    return {"keyId": key_id, "arn": _aws_arn(m, "kms", f"key/{key_id}")}


def _gcs_bucket(m: PlatformMocks, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    bucket = inputs.get("name") or f"{name}-mock"
    return {"name": bucket, "url": f"gs://{bucket}", "selfLink": f"https://www.googleapis.com/storage/v1/b/{bucket}"}


def _gcp_kms_key(m: PlatformMocks, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    ring = inputs.get("keyRing", f"projects/{m.gcp_project}/locations/{m.region}/keyRings/ring")
    return {"id": f"{ring}/cryptoKeys/{inputs.get('name', name)}"}


def _gcp_key_ring(m: PlatformMocks, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    location = inputs.get("location", m.region)
    return {"id": f"projects/{m.gcp_project}/locations/{location}/keyRings/{inputs.get('name', name)}"}


def _gcp_network(m: PlatformMocks, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    net = inputs.get("name", name)
    link = f"https://www.googleapis.com/compute/v1/projects/{m.gcp_project}/global/networks/{net}"
    return {"id": f"projects/{m.gcp_project}/global/networks/{net}", "selfLink": link}


def _gcp_subnetwork(m: PlatformMocks, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    sub = inputs.get("name", name)
    region = inputs.get("region", m.region)
    path = f"projects/{m.gcp_project}/regions/{region}/subnetworks/{sub}"
    return {"id": path, "selfLink": f"https://www.googleapis.com/compute/v1/{path}", "region": region}


def _gke_cluster(m: PlatformMocks, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    cluster = inputs.get("name", name)
    location = inputs.get("location", m.region)
    return {
        "id": f"projects/{m.gcp_project}/locations/{location}/clusters/{cluster}",
        "endpoint": "172.16.0.34",
        "masterAuth": {"clusterCaCertificate": "cHJldmlldy1jYQ==", "clientCertificate": "", "clientKey": ""},
        "location": location,
        "controlPlaneEndpointsConfig": {
            "dnsEndpointConfig": {
                **(inputs.get("controlPlaneEndpointsConfig", {}).get("dnsEndpointConfig") or {}),
                "endpoint": f"gke-0123456789abcdef0123456789abcdef-{GCP_PROJECT_NUMBER}.{location}.gke.goog",
            },
            "ipEndpointsConfig": {"enabled": True},
        },
    }


def _gcp_service_account(m: PlatformMocks, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    email = f"{inputs.get('accountId', name)}@{m.gcp_project}.iam.gserviceaccount.com"
    return {
        "email": email,
        "name": f"projects/{m.gcp_project}/serviceAccounts/{email}",
        "member": f"serviceAccount:{email}",
        "uniqueId": "104000000000000000000",
    }


def _gcp_identity_pool(m: PlatformMocks, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    pool = inputs.get("workloadIdentityPoolId", name)
    return {"name": f"projects/{GCP_PROJECT_NUMBER}/locations/global/workloadIdentityPools/{pool}", "state": "ACTIVE"}


def _gcp_identity_pool_provider(m: PlatformMocks, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    pool = inputs.get("workloadIdentityPoolId", "pool")
    provider = inputs.get("workloadIdentityPoolProviderId", name)
    path = f"projects/{GCP_PROJECT_NUMBER}/locations/global/workloadIdentityPools/{pool}/providers/{provider}"
    return {"name": path, "state": "ACTIVE"}


def _gcp_custom_role(m: PlatformMocks, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    path = f"projects/{inputs.get('project') or m.gcp_project}/roles/{inputs.get('roleId', name)}"
    return {"id": path, "name": path}


def _gcp_sql_instance(m: PlatformMocks, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    instance = inputs.get("name", name)
    return {
        "privateIpAddress": "10.100.0.3",
        "connectionName": f"{m.gcp_project}:{m.region}:{instance}",
        "ipAddresses": [{"ipAddress": "10.100.0.3", "type": "PRIVATE"}],
    }


def _gcp_redis(m: PlatformMocks, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    tls = inputs.get("transitEncryptionMode") == "SERVER_AUTHENTICATION"
    return {
        "host": "10.100.1.4",
        "port": 6378.0 if tls else 6379.0,
        "authString": "preview-redis-auth" if inputs.get("authEnabled") else "",
        "serverCaCerts": [{"cert": "-----BEGIN CERTIFICATE-----preview-----END CERTIFICATE-----"}] if tls else [],
    }


def _gcp_secret(m: PlatformMocks, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    path = f"projects/{m.gcp_project}/secrets/{inputs.get('secretId', name)}"
    return {"id": path, "name": path}


def _random_password(m: PlatformMocks, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    return {"result": f"preview-password-{name}", "bcryptHash": "preview-hash"}


def _random_id(m: PlatformMocks, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """A stable suffix per resource name, ``byteLength`` bytes long, in the encodings the provider returns."""
    raw = hashlib.sha256(name.encode()).digest()[: int(inputs.get("byteLength") or 8)]
    b64 = base64.b64encode(raw).decode()
    url = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    return {"hex": raw.hex(), "dec": str(int.from_bytes(raw, "big")), "b64Std": b64, "b64Url": url, "id": url}


def _aws_iam_arn(kind: str, name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT_ID}:{kind}/{name}"


def _eks_endpoint(m: PlatformMocks, cluster: str) -> dict[str, Any]:
    host = f"{cluster.upper().replace('-', '')}.gr7.{m.region}.eks.amazonaws.com"
    oidc = f"https://oidc.eks.{m.region}.amazonaws.com/id/{cluster.upper().replace('-', '')}"
    return {
        "endpoint": f"https://{host}",
        "certificateAuthority": {"data": "TU9DSy1DQQ=="},
        "identities": [{"oidcs": [{"issuer": oidc}]}],
    }


def _eks_cluster(m: PlatformMocks, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    cluster = inputs.get("name") or name
    vpc_config = {
        **(inputs.get("vpcConfig") or {}),
        "clusterSecurityGroupId": f"sg-{cluster}-cluster",
        "vpcId": f"vpc-{cluster}",
    }
    return {**_eks_endpoint(m, cluster), "arn": _aws_arn(m, "eks", f"cluster/{cluster}"), "vpcConfig": vpc_config}


def _eks_node_group(m: PlatformMocks, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    cluster = inputs.get("clusterName") or "cluster"
    return {
        "arn": _aws_arn(m, "eks", f"nodegroup/{cluster}/{name}/mock"),
        "resources": [{"autoscalingGroups": [{"name": f"eks-{name}-asg"}], "remoteAccessSecurityGroupId": ""}],
    }


def _iam_role(m: PlatformMocks, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    role = inputs.get("name") or name
    return {"name": role, "arn": _aws_iam_arn("role", role), "uniqueId": f"AROA{role.upper()[:12]}"}


def _oidc_provider(m: PlatformMocks, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    url = str(inputs.get("url") or f"oidc.eks.{m.region}.amazonaws.com/id/{name}")
    return {"arn": _aws_iam_arn("oidc-provider", url.removeprefix("https://"))}


def _rds_instance(m: PlatformMocks, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    ident = inputs.get("identifier") or name
    address = f"{ident}.cmock.{m.region}.rds.amazonaws.com"
    port = int(inputs.get("port") or 5432)
    return {"address": address, "endpoint": f"{address}:{port}", "port": port, "arn": _aws_arn(m, "rds", f"db:{ident}")}


def _replication_group(m: PlatformMocks, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    group = inputs.get("replicationGroupId") or name
    return {
        "primaryEndpointAddress": f"master.{group}.mock.use1.cache.amazonaws.com",
        "readerEndpointAddress": f"replica.{group}.mock.use1.cache.amazonaws.com",
        "arn": _aws_arn(m, "elasticache", f"replicationgroup:{group}"),
    }


def _ecr_repository(m: PlatformMocks, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    repo = inputs.get("name") or name
    return {
        "repositoryUrl": f"{ACCOUNT_ID}.dkr.ecr.{m.region}.amazonaws.com/{repo}",
        "registryId": ACCOUNT_ID,
        "arn": _aws_arn(m, "ecr", f"repository/{repo}"),
    }


def _secret(m: PlatformMocks, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    prefix = inputs.get("namePrefix")
    secret = inputs.get("name") or (f"{prefix}{UNIQUE_SUFFIX}" if prefix else name)
    return {"name": secret, "arn": _aws_arn(m, "secretsmanager", f"secret:{secret}-AbCdEf")}


def _sqs_queue(m: PlatformMocks, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    queue = inputs.get("name") or name
    return {
        "name": queue,
        "arn": _aws_arn(m, "sqs", queue),
        "url": f"https://sqs.{m.region}.amazonaws.com/{ACCOUNT_ID}/{queue}",
    }


def _acm_certificate(m: PlatformMocks, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """A DNS-validated certificate: the CNAME ACM asks for in the domain's zone."""
    domain = str(inputs.get("domainName") or f"{name}.example.com")
    token = hashlib.sha256(f"{name}:{domain}".encode()).hexdigest()
    return {
        "arn": _aws_arn(
            m, "acm", f"certificate/{token[:8]}-{token[8:12]}-{token[12:16]}-{token[16:20]}-{token[20:32]}"
        ),
        "domainValidationOptions": [
            {
                "domainName": domain,
                "resourceRecordName": f"_{token[:32]}.{domain.removeprefix('*.')}.",
                "resourceRecordType": "CNAME",
                "resourceRecordValue": f"_{token[32:]}.acm-validations.aws.",
            }
        ],
        "status": "PENDING_VALIDATION",
    }


def _route53_record(m: PlatformMocks, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    return {"fqdn": str(inputs.get("name") or name).rstrip(".")}


def _docker_image(m: PlatformMocks, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """A pushed build: a digest of what was built (stable per name, tags and arguments) and the provider's ``ref``,
    the first tag with that digest."""
    tags = [str(t) for t in inputs.get("tags") or []]
    seen = json.dumps([name, tags, inputs.get("buildArgs"), inputs.get("platforms")], sort_keys=True)
    digest = "sha256:" + hashlib.sha256(seen.encode()).hexdigest()
    pushed = bool(inputs.get("push"))
    return {
        "digest": digest if pushed else "",
        "ref": f"{tags[0]}@{digest}" if tags and pushed else (tags[0] if tags else ""),
        "contextHash": hashlib.sha256(f"context:{seen}".encode()).hexdigest(),
    }


OUTPUTS: dict[str, OutputFn] = {
    "aws:s3/bucket:Bucket": _bucket,
    "aws:kms/key:Key": _kms_key,
    "aws:eks/cluster:Cluster": _eks_cluster,
    "aws:eks/nodeGroup:NodeGroup": _eks_node_group,
    "aws:iam/role:Role": _iam_role,
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": _oidc_provider,
    "aws:rds/instance:Instance": _rds_instance,
    "aws:elasticache/replicationGroup:ReplicationGroup": _replication_group,
    "aws:ecr/repository:Repository": _ecr_repository,
    "aws:secretsmanager/secret:Secret": _secret,
    "aws:sqs/queue:Queue": _sqs_queue,
    "aws:acm/certificate:Certificate": _acm_certificate,
    "aws:route53/record:Record": _route53_record,
    "gcp:storage/bucket:Bucket": _gcs_bucket,
    "gcp:kms/cryptoKey:CryptoKey": _gcp_kms_key,
    "gcp:kms/keyRing:KeyRing": _gcp_key_ring,
    "gcp:compute/network:Network": _gcp_network,
    "gcp:compute/subnetwork:Subnetwork": _gcp_subnetwork,
    "gcp:container/cluster:Cluster": _gke_cluster,
    "gcp:serviceaccount/account:Account": _gcp_service_account,
    "gcp:iam/workloadIdentityPool:WorkloadIdentityPool": _gcp_identity_pool,
    "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider": _gcp_identity_pool_provider,
    "gcp:projects/iAMCustomRole:IAMCustomRole": _gcp_custom_role,
    "gcp:sql/databaseInstance:DatabaseInstance": _gcp_sql_instance,
    "gcp:redis/instance:Instance": _gcp_redis,
    "gcp:secretmanager/secret:Secret": _gcp_secret,
    "random:index/randomPassword:RandomPassword": _random_password,
    "random:index/randomId:RandomId": _random_id,
    "docker-build:index:Image": _docker_image,
}
"""Extra outputs per resource type, beyond the echoed inputs, ``id`` and (AWS) ``arn``."""


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
    found = _eks_endpoint(m, cluster)
    return {
        "id": cluster,
        "name": cluster,
        "arn": _aws_arn(m, "eks", f"cluster/{cluster}"),
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


INVOKES: dict[str, InvokeFn] = {
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


class UnmockedInvokeError(RuntimeError):
    """A component called a data source the preview has no answer for."""


class PlatformMocks(pulumi.runtime.Mocks):
    """Answers resource registrations and invokes with plausible cloud values."""

    def __init__(self, region: str = "us-east-1", gcp_project: str = "preview-project") -> None:
        self.region = region
        self.gcp_project = gcp_project

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        state = dict(args.inputs)
        if not args.custom:
            return None, state
        resource_id = args.resource_id or f"{args.name}-id"
        if args.typ.startswith("aws:"):
            service = args.typ.split(":")[1].split("/")[0]
            state.setdefault("arn", _aws_arn(self, service, args.name))
        if args.typ.startswith("gcp:"):
            state.setdefault("project", self.gcp_project)
        extra = OUTPUTS.get(args.typ)
        if extra is not None:
            outputs = extra(self, args.name, args.inputs)
            resource_id = str(outputs.pop("id", resource_id))
            state.update(outputs)
        state.setdefault("name", args.inputs.get("name", args.name))
        return resource_id, state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        handler = INVOKES.get(args.token)
        if handler is None:
            raise UnmockedInvokeError(
                f"offline preview has no answer for invoke {args.token}: add a handler to "
                "pulumi_mlops.preview.mocks.INVOKES"
            )
        return handler(self, args.args), []

"""What the offline preview answers to a resource registration, beyond the echoed inputs: the outputs other
resources read (ids, ARNs, endpoints), as the clouds would shape them, by resource type."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .mocks import PlatformMocks

__all__ = ["ACCOUNT_ID", "GCP_PROJECT_NUMBER", "OUTPUTS", "UNIQUE_SUFFIX", "OutputFn", "aws_arn", "eks_endpoint"]

ACCOUNT_ID = "123456789012"
GCP_PROJECT_NUMBER = "987654321098"
UNIQUE_SUFFIX = "20260101000000000000000001"
"""What the AWS provider appends to a ``namePrefix`` (a timestamp and a counter, 26 characters)."""

OutputFn = Callable[["PlatformMocks", str, dict[str, Any]], dict[str, Any]]


def aws_arn(mocks: PlatformMocks, service: str, resource: str) -> str:
    return f"arn:aws:{service}:{mocks.region}:{ACCOUNT_ID}:{resource}"


def _bucket(m: PlatformMocks, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    bucket = inputs.get("bucket") or f"{name}-mock"
    return {
        "id": bucket,  # an S3 bucket's id is its name
        "bucket": bucket,
        "arn": f"arn:aws:s3:::{bucket}",
        "bucketRegionalDomainName": f"{bucket}.s3.{m.region}.amazonaws.com",
    }


def _kms_key(m: PlatformMocks, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    key_id = f"{name}-key-id"
    return {"keyId": key_id, "arn": aws_arn(m, "kms", f"key/{key_id}")}


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


def eks_endpoint(m: PlatformMocks, cluster: str) -> dict[str, Any]:
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
    return {**eks_endpoint(m, cluster), "arn": aws_arn(m, "eks", f"cluster/{cluster}"), "vpcConfig": vpc_config}


def _eks_node_group(m: PlatformMocks, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    cluster = inputs.get("clusterName") or "cluster"
    return {
        "arn": aws_arn(m, "eks", f"nodegroup/{cluster}/{name}/mock"),
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
    return {"address": address, "endpoint": f"{address}:{port}", "port": port, "arn": aws_arn(m, "rds", f"db:{ident}")}


def _replication_group(m: PlatformMocks, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    group = inputs.get("replicationGroupId") or name
    return {
        "primaryEndpointAddress": f"master.{group}.mock.use1.cache.amazonaws.com",
        "readerEndpointAddress": f"replica.{group}.mock.use1.cache.amazonaws.com",
        "arn": aws_arn(m, "elasticache", f"replicationgroup:{group}"),
    }


def _ecr_repository(m: PlatformMocks, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    repo = inputs.get("name") or name
    return {
        "repositoryUrl": f"{ACCOUNT_ID}.dkr.ecr.{m.region}.amazonaws.com/{repo}",
        "registryId": ACCOUNT_ID,
        "arn": aws_arn(m, "ecr", f"repository/{repo}"),
    }


def _secret(m: PlatformMocks, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    prefix = inputs.get("namePrefix")
    secret = inputs.get("name") or (f"{prefix}{UNIQUE_SUFFIX}" if prefix else name)
    return {"name": secret, "arn": aws_arn(m, "secretsmanager", f"secret:{secret}-AbCdEf")}


def _sqs_queue(m: PlatformMocks, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    queue = inputs.get("name") or name
    return {
        "name": queue,
        "arn": aws_arn(m, "sqs", queue),
        "url": f"https://sqs.{m.region}.amazonaws.com/{ACCOUNT_ID}/{queue}",
    }


def _acm_certificate(m: PlatformMocks, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """A DNS-validated certificate: the CNAME ACM asks for in the domain's zone."""
    domain = str(inputs.get("domainName") or f"{name}.example.com")
    token = hashlib.sha256(f"{name}:{domain}".encode()).hexdigest()
    return {
        "arn": aws_arn(m, "acm", f"certificate/{token[:8]}-{token[8:12]}-{token[12:16]}-{token[16:20]}-{token[20:32]}"),
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

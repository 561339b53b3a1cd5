"""Every resource policy: silent on a valid baseline, fires with a useful message when one field is broken.

Each case names the policy, the baseline resource type, a mutation of the baseline (wire-format
props, as the engine sends them) and a fragment the violation message must contain.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from pulumi_mlops.policies import ALL_POLICIES, DEFAULT_CONFIG, aws_services, gcp_services, ml_services, pods
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)
from pulumi_policy.proxy import unknown_checking_proxy

TAGS = {"environment": "prod", "owner": "ml-platform", "cost-center": "ml-1234", "managed-by": "pulumi-mlops"}
DELETE = object()

Props = dict[str, Any]
Mutation = Callable[[str, Props], tuple[str, Props]]


def _doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


TLS_DENY = {
    "Sid": "DenyInsecureTransport",
    "Effect": "Deny",
    "Principal": "*",
    "Action": "s3:*",
    "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"],
    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
}
LEAST_PRIVILEGE = _doc(
    {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "arn:aws:s3:::b/*"},
    {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
    {"Effect": "Deny", "Action": "s3:*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
)
TRUST = _doc(
    {
        "Effect": "Allow",
        "Principal": {"Service": "pods.eks.amazonaws.com"},
        "Action": ["sts:AssumeRole", "sts:TagSession"],
    }
)

GITHUB_TRUST_WITHOUT_SUB = _doc(
    {
        "Effect": "Allow",
        "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}},
    }
)


def _container(name: str = "server", image: str = "ghcr.io/pulumi-mlops/runtime:0.1.0", probes: bool = True) -> Props:
    c: Props = {
        "name": name,
        "image": image,
        "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "1Gi"}},
        "securityContext": {
            "runAsNonRoot": True,
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    if probes:
        c["readinessProbe"] = {"httpGet": {"path": "/ready", "port": 8080.0}}
        c["livenessProbe"] = {"httpGet": {"path": "/health", "port": 8080.0}}
    return c


def _pod(probes: bool = True) -> Props:
    return {
        "metadata": {"labels": {"app.kubernetes.io/name": "churn"}},
        "spec": {
            "serviceAccountName": "churn",
            "automountServiceAccountToken": False,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 10001.0,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [_container(probes=probes)],
        },
    }


K8S_META = {"name": "churn", "namespace": "serving", "labels": dict(TAGS)}

BASELINES: dict[str, Props] = {
    "aws:s3/bucket:Bucket": {"bucket": "b", "forceDestroy": False, "tags": TAGS},
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": {
        "bucket": "b",
        "rules": [
            {
                "applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": "arn:aws:kms:k"},
                "bucketKeyEnabled": True,
            }
        ],
    },
    "aws:s3/bucketVersioning:BucketVersioning": {"bucket": "b", "versioningConfiguration": {"status": "Enabled"}},
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": {
        "bucket": "b",
        "blockPublicAcls": True,
        "blockPublicPolicy": True,
        "ignorePublicAcls": True,
        "restrictPublicBuckets": True,
    },
    "aws:s3/bucketPolicy:BucketPolicy": {"bucket": "b", "policy": _doc(TLS_DENY)},
    "aws:s3/bucketAcl:BucketAcl": {"bucket": "b", "acl": "private"},
    "aws:kms/key:Key": {"enableKeyRotation": True, "tags": TAGS},
    "gcp:storage/bucket:Bucket": {
        "name": "b",
        "location": "EUROPE-WEST4",
        "encryption": {"defaultKmsKeyName": "projects/p/locations/l/keyRings/r/cryptoKeys/k"},
        "versioning": {"enabled": True},
        "publicAccessPrevention": "enforced",
        "uniformBucketLevelAccess": True,
        "labels": TAGS,
    },
    "gcp:kms/cryptoKey:CryptoKey": {"keyRing": "r", "rotationPeriod": "7776000s", "labels": TAGS},
    "aws:rds/instance:Instance": {
        "engine": "postgres",
        "storageEncrypted": True,
        "publiclyAccessible": False,
        "deletionProtection": True,
        "backupRetentionPeriod": 14.0,
        "multiAz": True,
        "tags": TAGS,
    },
    "gcp:sql/databaseInstance:DatabaseInstance": {
        "databaseVersion": "POSTGRES_16",
        "deletionProtection": True,
        "settings": {
            "tier": "db-custom-4-15360",
            "deletionProtectionEnabled": True,
            "ipConfiguration": {"ipv4Enabled": False, "privateNetwork": "n", "sslMode": "ENCRYPTED_ONLY"},
            "backupConfiguration": {"enabled": True},
            "userLabels": TAGS,
        },
    },
    "aws:elasticache/replicationGroup:ReplicationGroup": {
        "atRestEncryptionEnabled": True,
        "transitEncryptionEnabled": True,
        "authToken": "token",
        "tags": TAGS,
    },
    "gcp:redis/instance:Instance": {
        "authEnabled": True,
        "transitEncryptionMode": "SERVER_AUTHENTICATION",
        "labels": TAGS,
    },
    "aws:ecr/repository:Repository": {
        "imageTagMutability": "IMMUTABLE",
        "imageScanningConfiguration": {"scanOnPush": True},
        "encryptionConfigurations": [{"encryptionType": "KMS", "kmsKey": "arn:aws:kms:k"}],
        "tags": TAGS,
    },
    "gcp:artifactregistry/repository:Repository": {
        "format": "DOCKER",
        "dockerConfig": {"immutableTags": True},
        "cleanupPolicies": [{"id": "delete-untagged", "action": "DELETE"}],
        "labels": TAGS,
    },
    "docker-build:index:Image": {
        "context": {"location": "."},
        "dockerfile": {"location": "docker/runtime.Dockerfile"},
        "buildArgs": {"VARIANT": "cpu"},
        "platforms": ["linux/amd64"],
        "push": True,
        "buildOnPreview": False,
        "tags": ["123456789012.dkr.ecr.us-east-1.amazonaws.com/mlops-prod/runtime:0.1.0-0123456789ab"],
        "registries": [{"address": "123456789012.dkr.ecr.us-east-1.amazonaws.com", "username": "AWS"}],
    },
    "aws:eks/cluster:Cluster": {
        "encryptionConfig": {"resources": ["secrets"], "provider": {"keyArn": "arn:aws:kms:k"}},
        "enabledClusterLogTypes": ["api", "audit", "authenticator"],
        "vpcConfig": {"endpointPublicAccess": False, "endpointPrivateAccess": True, "subnetIds": ["s1", "s2"]},
        "tags": TAGS,
    },
    "aws:eks/nodeGroup:NodeGroup": {
        "instanceTypes": ["g6.xlarge"],
        "amiType": "AL2023_x86_64_NVIDIA",
        "capacityType": "SPOT",
        "scalingConfig": {"minSize": 0.0, "maxSize": 2.0, "desiredSize": 0.0},
        "taints": [{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}],
        "labels": {"pulumi-mlops.io/gpu-pool": "l4"},
        "tags": TAGS,
    },
    "kubernetes:karpenter.sh/v1:NodePool": {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodePool",
        "metadata": {"name": "l4"},
        "spec": {
            "template": {
                "metadata": {"labels": {"pulumi-mlops.io/gpu-pool": "l4"}},
                "spec": {
                    "requirements": [
                        {"key": "karpenter.k8s.aws/instance-gpu-manufacturer", "operator": "In", "values": ["nvidia"]},
                        {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["spot"]},
                    ],
                    "taints": [{"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}],
                },
            },
            "limits": {"nvidia.com/gpu": "2"},
        },
    },
    "gcp:container/cluster:Cluster": {
        "location": "europe-west4",
        "workloadIdentityConfig": {"workloadPool": "p.svc.id.goog"},
        "enableShieldedNodes": True,
        "privateClusterConfig": {"enablePrivateNodes": True, "enablePrivateEndpoint": True},
        "masterAuthorizedNetworksConfig": {"cidrBlocks": [{"cidrBlock": "10.0.0.0/8"}]},
        "databaseEncryption": {"state": "ENCRYPTED", "keyName": "k"},
        "resourceLabels": TAGS,
    },
    "gcp:container/nodePool:NodePool": {
        "location": "europe-west4",
        "autoscaling": {"totalMinNodeCount": 0.0, "totalMaxNodeCount": 2.0},
        "networkConfig": {"enablePrivateNodes": True},
        "nodeConfig": {
            "machineType": "g2-standard-8",
            "spot": True,
            "guestAccelerators": [{"type": "nvidia-l4", "count": 1.0}],
            "taints": [{"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}],
            "workloadMetadataConfig": {"mode": "GKE_METADATA"},
            "shieldedInstanceConfig": {"enableSecureBoot": True, "enableIntegrityMonitoring": True},
            "resourceLabels": TAGS,
        },
    },
    "aws:ec2/securityGroup:SecurityGroup": {
        "ingress": [{"protocol": "tcp", "fromPort": 443.0, "toPort": 443.0, "cidrBlocks": ["0.0.0.0/0"]}],
        "tags": TAGS,
    },
    "aws:ec2/securityGroupRule:SecurityGroupRule": {
        "type": "ingress",
        "protocol": "tcp",
        "fromPort": 5432.0,
        "toPort": 5432.0,
        "cidrBlocks": ["10.0.0.0/16"],
    },
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": {
        "ipProtocol": "tcp",
        "fromPort": 6379.0,
        "toPort": 6379.0,
        "cidrIpv4": "10.0.0.0/16",
        "tags": TAGS,
    },
    "gcp:compute/firewall:Firewall": {
        "direction": "INGRESS",
        "sourceRanges": ["0.0.0.0/0"],
        "allows": [{"protocol": "tcp", "ports": ["443"]}],
    },
    "aws:iam/policy:Policy": {"policy": LEAST_PRIVILEGE, "tags": TAGS},
    "aws:iam/rolePolicy:RolePolicy": {"role": "r", "policy": LEAST_PRIVILEGE},
    "aws:iam/role:Role": {
        "assumeRolePolicy": TRUST,
        "inlinePolicies": [{"name": "p", "policy": LEAST_PRIVILEGE}],
        "tags": TAGS,
    },
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": {
        "role": "r",
        "policyArn": "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    },
    "kubernetes:helm.sh/v3:Release": {"chart": "dcgm-exporter", "version": "4.8.1", "namespace": "kube-system"},
    "aws:secretsmanager/secret:Secret": {"kmsKeyId": "arn:aws:kms:k", "tags": TAGS},
    "gcp:secretmanager/secret:Secret": {
        "replication": {
            "userManaged": {
                "replicas": [{"location": "europe-west4", "customerManagedEncryption": {"kmsKeyName": "k"}}]
            }
        },
        "labels": TAGS,
    },
    "aws:cloudwatch/logGroup:LogGroup": {"retentionInDays": 90.0, "tags": TAGS},
    "gcp:projects/iAMMember:IAMMember": {
        "project": "p",
        "role": "roles/container.developer",
        "member": "serviceAccount:sa@p.iam.gserviceaccount.com",
    },
    "gcp:storage/bucketIAMMember:BucketIAMMember": {
        "bucket": "b",
        "role": "roles/storage.objectViewer",
        "member": "serviceAccount:sa@p.iam.gserviceaccount.com",
    },
    "gcp:serviceaccount/account:Account": {"accountId": "trainer"},
    "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider": {
        "workloadIdentityPoolId": "ci",
        "workloadIdentityPoolProviderId": "github",
        "attributeMapping": {"google.subject": "assertion.sub", "attribute.repository": "assertion.repository"},
        "attributeCondition": "assertion.repository == 'acme/app'",
        "oidc": {"issuerUri": "https://token.actions.githubusercontent.com"},
    },
    "kubernetes:apps/v1:Deployment": {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": K8S_META,
        "spec": {"replicas": 2.0, "selector": {"matchLabels": {"app.kubernetes.io/name": "churn"}}, "template": _pod()},
    },
    "kubernetes:batch/v1:CronJob": {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": K8S_META,
        "spec": {"schedule": "0 3 * * 0", "jobTemplate": {"spec": {"template": _pod(probes=False)}}},
    },
    # rbac: the drift job's Role and binding as the components build them, and a read-only ClusterRole
    "kubernetes:rbac.authorization.k8s.io/v1:Role": {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": K8S_META,
        "rules": [
            {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "get"]},
            {"apiGroups": ["batch"], "resources": ["cronjobs"], "resourceNames": ["train-churn"], "verbs": ["get"]},
            {"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["churn-db"], "verbs": ["get"]},
        ],
    },
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole": {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "churn-reader", "labels": dict(TAGS)},
        "rules": [
            {"apiGroups": [""], "resources": ["pods", "configmaps"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"], "verbs": ["get", "list"]},
        ],
    },
    "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding": {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": K8S_META,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "retrain-trigger"},
        "subjects": [{"kind": "ServiceAccount", "name": "drift", "namespace": "serving"}],
    },
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding": {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "platform-admins", "labels": dict(TAGS)},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"kind": "Group", "name": "platform-admins", "apiGroup": "rbac.authorization.k8s.io"}],
    },
    # exposure
    "kubernetes:core/v1:Service": {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {**K8S_META, "annotations": {"service.beta.kubernetes.io/aws-load-balancer-type": "nlb"}},
        "spec": {
            "type": "LoadBalancer",
            "selector": {"app.kubernetes.io/name": "churn"},
            "ports": [{"port": 443.0, "targetPort": 8080.0}],
            "loadBalancerSourceRanges": ["203.0.113.0/24"],
        },
    },
    "kubernetes:gateway.envoyproxy.io/v1alpha1:EnvoyProxy": {
        "apiVersion": "gateway.envoyproxy.io/v1alpha1",
        "kind": "EnvoyProxy",
        "metadata": {"name": "mlops", "namespace": "envoy-gateway-system", "labels": dict(TAGS)},
        "spec": {
            "provider": {
                "type": "Kubernetes",
                "kubernetes": {
                    "envoyService": {
                        "type": "LoadBalancer",
                        "annotations": {"service.beta.kubernetes.io/aws-load-balancer-internal": "true"},
                    }
                },
            }
        },
    },
    "kubernetes:core/v1:ConfigMap": {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": K8S_META,
        "data": {
            "tokenizer.json": '{"model": "bpe"}',
            "DB_PASSWORD_FILE": "/var/run/secrets/db/password",
            "secret_name": "churn-db",
            "api_key": "",
            "MLFLOW_TRACKING_URI": "http://mlflow.mlops:5000",
        },
    },
}


def _set(path: str, value: Any) -> Mutation:
    """Mutation: set (or with ``DELETE`` remove) the value at a dotted path."""

    def mutate(type_: str, props: Props) -> tuple[str, Props]:
        *parents, last = path.split(".")
        node: Any = props
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        if isinstance(node, list):
            node[int(last)] = value
        elif value is DELETE:
            node.pop(last, None)
        else:
            node[last] = value
        return type_, props

    return mutate


def _data(key: str, value: str) -> Mutation:
    """Mutation: set a ConfigMap ``data`` key (keys may hold dots, which ``_set`` would walk)."""

    def mutate(type_: str, props: Props) -> tuple[str, Props]:
        return type_, {**props, "data": {**props["data"], key: value}}

    return mutate


def _retype(new_type: str, **changes: Any) -> Mutation:
    def mutate(type_: str, props: Props) -> tuple[str, Props]:
        return new_type, {**props, **changes}

    return mutate


@dataclass
class Case:
    policy: str
    type: str
    mutation: Mutation
    fragment: str
    config: dict[str, Any] = field(default_factory=dict)
    id: str = ""


S3 = "aws:s3/bucket:Bucket"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
VERS = "aws:s3/bucketVersioning:BucketVersioning"
PAB = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
GCS = "gcp:storage/bucket:Bucket"
RDS = "aws:rds/instance:Instance"
SQL = "gcp:sql/databaseInstance:DatabaseInstance"
EC = "aws:elasticache/replicationGroup:ReplicationGroup"
ECR = "aws:ecr/repository:Repository"
AR = "gcp:artifactregistry/repository:Repository"
IMG = "docker-build:index:Image"
EKS = "aws:eks/cluster:Cluster"
NG = "aws:eks/nodeGroup:NodeGroup"
GKE = "gcp:container/cluster:Cluster"
NP = "gcp:container/nodePool:NodePool"
KP = "kubernetes:karpenter.sh/v1:NodePool"
DEP = "kubernetes:apps/v1:Deployment"
CRON = "kubernetes:batch/v1:CronJob"
PM = "gcp:projects/iAMMember:IAMMember"
C0 = "spec.template.spec.containers.0"
ROLE = "kubernetes:rbac.authorization.k8s.io/v1:Role"
CR = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"
RB = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
CRB = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"
SVC = "kubernetes:core/v1:Service"
ENVOY = "kubernetes:gateway.envoyproxy.io/v1alpha1:EnvoyProxy"
CM = "kubernetes:core/v1:ConfigMap"
DEV = {"profile": "dev"}

CASES: list[Case] = [
    # storage
    Case(
        "s3-bucket-kms-encryption",
        SSE,
        _set("rules.0.applyServerSideEncryptionByDefault.sseAlgorithm", "AES256"),
        "'AES256'",
    ),
    Case(
        "s3-bucket-kms-encryption",
        SSE,
        _set("rules.0.applyServerSideEncryptionByDefault.kmsMasterKeyId", DELETE),
        "kmsMasterKeyId",
        id="no-key",
    ),
    Case("s3-bucket-versioning", VERS, _set("versioningConfiguration.status", "Suspended"), "'Suspended'"),
    Case("s3-public-access-block", PAB, _set("restrictPublicBuckets", False), "restrictPublicBuckets"),
    Case(
        "s3-bucket-tls-only",
        "aws:s3/bucketPolicy:BucketPolicy",
        _set("policy", _doc({**TLS_DENY, "Effect": "Allow"})),
        "SecureTransport",
    ),
    Case(
        "aws-resource-policy-not-public",
        "aws:s3/bucketPolicy:BucketPolicy",
        _set(
            "policy",
            _doc(
                TLS_DENY,
                {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"},
            ),
        ),
        "allows anyone s3:getobject",
    ),
    Case("s3-bucket-no-public-acl", "aws:s3/bucketAcl:BucketAcl", _set("acl", "public-read"), "'public-read'"),
    Case("s3-bucket-no-public-acl", S3, _set("acl", "public-read-write"), "'public-read-write'", id="bucket"),
    Case("kms-key-rotation", "aws:kms/key:Key", _set("enableKeyRotation", False), "enableKeyRotation"),
    Case("kms-key-rotation", "gcp:kms/cryptoKey:CryptoKey", _set("rotationPeriod", DELETE), "rotationPeriod", id="gcp"),
    Case("gcs-bucket-cmek", GCS, _set("encryption", DELETE), "defaultKmsKeyName"),
    Case("gcs-bucket-versioning", GCS, _set("versioning.enabled", False), "versioning.enabled"),
    Case("gcs-public-access-prevention", GCS, _set("publicAccessPrevention", "inherited"), "'inherited'"),
    Case(
        "gcs-public-access-prevention",
        GCS,
        _set("uniformBucketLevelAccess", False),
        "uniformBucketLevelAccess",
        id="ubla",
    ),
    Case("rds-storage-encrypted", RDS, _set("storageEncrypted", False), "storageEncrypted"),
    Case("rds-not-public", RDS, _set("publiclyAccessible", True), "publiclyAccessible"),
    Case("rds-deletion-protection-prod", RDS, _set("deletionProtection", False), "deletionProtection"),
    Case("rds-backups-enabled", RDS, _set("backupRetentionPeriod", 0.0), "backupRetentionPeriod"),
    Case("rds-multi-az-prod", RDS, _set("multiAz", False), "multiAz"),
    Case("cloudsql-private-ip", SQL, _set("settings.ipConfiguration.ipv4Enabled", True), "ipv4Enabled"),
    Case("cloudsql-deletion-protection-prod", SQL, _set("deletionProtection", False), "deletionProtection is false"),
    Case("cloudsql-backups-enabled", SQL, _set("settings.backupConfiguration.enabled", False), "backupConfiguration"),
    Case(
        "cloudsql-require-ssl",
        SQL,
        _set("settings.ipConfiguration.sslMode", "ALLOW_UNENCRYPTED_AND_ENCRYPTED"),
        "ENCRYPTED_ONLY",
    ),
    Case("elasticache-encryption", EC, _set("transitEncryptionEnabled", False), "transitEncryptionEnabled"),
    Case(
        "elasticache-encryption", EC, _set("atRestEncryptionEnabled", DELETE), "atRestEncryptionEnabled", id="at-rest"
    ),
    Case("elasticache-auth", EC, _set("authToken", DELETE), "AUTH"),
    Case(
        "memorystore-encryption-auth",
        "gcp:redis/instance:Instance",
        _set("transitEncryptionMode", "DISABLED"),
        "'DISABLED'",
    ),
    Case("secrets-cmek", "aws:secretsmanager/secret:Secret", _set("kmsKeyId", DELETE), "kmsKeyId"),
    Case(
        "secrets-cmek",
        "gcp:secretmanager/secret:Secret",
        _set("replication.userManaged.replicas.0.customerManagedEncryption", DELETE),
        "kmsKeyName",
        id="gcp",
    ),
    # registry
    Case("ecr-immutable-tags", ECR, _set("imageTagMutability", "MUTABLE"), "'MUTABLE'"),
    Case("ecr-scan-on-push", ECR, _set("imageScanningConfiguration", DELETE), "scanOnPush"),
    Case("ecr-kms-encryption", ECR, _set("encryptionConfigurations", [{"encryptionType": "AES256"}]), "KMS"),
    Case("artifact-registry-immutable-tags", AR, _set("dockerConfig.immutableTags", False), "immutableTags"),
    Case("artifact-registry-cleanup", AR, _set("cleanupPolicies", []), "cleanupPolicies"),
    Case("image-build-pushes-to-own-registry", IMG, _set("push", False), "push is not true"),
    Case("image-build-pushes-to-own-registry", IMG, _set("tags", []), "no tags", id="untagged"),
    Case(
        "image-build-pushes-to-own-registry",
        IMG,
        _set("tags.0", "123456789012.dkr.ecr.us-east-1.amazonaws.com/mlops-prod/runtime:latest"),
        "is 'latest'",
        id="latest",
    ),
    Case(
        "image-build-pushes-to-own-registry",
        IMG,
        _set("tags.0", "docker.io/acme/runtime:0.1.0"),
        "outside the stack's own registry",
        id="foreign",
    ),
    Case(
        "image-build-pushes-to-own-registry",
        IMG,
        _set("tags.0", "123456789012.dkr.ecr.us-east-1.amazonaws.com/mlops-staging/runtime:0.1.0-0123456789ab"),
        "outside the stack's own registry",
        config={"imageRegistries": ["*.dkr.ecr.us-east-1.amazonaws.com/mlops-prod/"]},
        id="other-stack",
    ),
    # compute
    Case("eks-secrets-encryption", EKS, _set("encryptionConfig", DELETE), "secrets"),
    Case("eks-control-plane-logging", EKS, _set("enabledClusterLogTypes", ["api"]), "audit, authenticator"),
    Case("gke-workload-identity", GKE, _set("workloadIdentityConfig", DELETE), "workloadPool"),
    Case(
        "gke-workload-identity",
        NP,
        _set("nodeConfig.workloadMetadataConfig.mode", "GCE_METADATA"),
        "GKE_METADATA",
        id="pool",
    ),
    Case("gke-shielded-nodes", GKE, _set("enableShieldedNodes", False), "enableShieldedNodes"),
    Case("gke-node-secure-boot", NP, _set("nodeConfig.shieldedInstanceConfig.enableSecureBoot", False), "Secure Boot"),
    Case("gke-secrets-encryption", GKE, _set("databaseEncryption.state", "DECRYPTED"), "ENCRYPTED"),
    Case("gpu-pool-tainted", NG, _set("taints", []), "nvidia.com/gpu"),
    Case("gpu-pool-tainted", NP, _set("nodeConfig.taints.0.effect", "PREFER_NO_SCHEDULE"), "nvidia.com/gpu", id="gke"),
    Case("gpu-pool-spot-in-dev", NG, _set("capacityType", "ON_DEMAND"), "'ON_DEMAND' in dev", DEV),
    Case("gpu-pool-spot-in-dev", NP, _set("nodeConfig.spot", False), "spot", DEV, id="gke"),
    Case("gpu-pool-tainted", KP, _set("spec.template.spec.taints", []), "nvidia.com/gpu", id="karpenter"),
    Case(
        "gpu-pool-spot-in-dev",
        KP,
        _set("spec.template.spec.requirements.1.values", ["spot", "on-demand"]),
        "require ['spot']",
        DEV,
        id="karpenter",
    ),
    # cost
    Case("gpu-pool-max-gpus", KP, _set("spec.limits", {"cpu": "100"}), "without spec.limits", id="karpenter-unbounded"),
    Case("gpu-pool-max-gpus", KP, _set("spec.limits", {"nvidia.com/gpu": "10"}), "= 10 GPUs exceeds", id="karpenter"),
    Case("gpu-pool-max-gpus", NG, _set("scalingConfig.maxSize", 12.0), "12 GPUs exceeds maxGpusPerPool (8)"),
    Case(
        "gpu-pool-max-gpus",
        NG,
        _set("instanceTypes", ["g6.12xlarge"]),
        "4 GPUs = 8",
        {"maxGpusPerPool": 4},
        id="per-node",
    ),
    Case("gpu-pool-max-gpus", NP, _set("autoscaling", {"maxNodeCount": 3.0}), "9 nodes x 1 GPUs", id="regional"),
    Case("gpu-pool-scale-to-zero-in-dev", NG, _set("scalingConfig.minSize", 1.0), "scale to 0", DEV),
    Case("log-group-retention", "aws:cloudwatch/logGroup:LogGroup", _set("retentionInDays", DELETE), "forever"),
    # network
    Case(
        "eks-endpoint-restricted-prod", EKS, _set("vpcConfig.endpointPublicAccess", True), "lists no publicAccessCidrs"
    ),
    Case(
        "eks-endpoint-restricted-prod",
        EKS,
        _set(
            "vpcConfig",
            {"endpointPublicAccess": True, "endpointPrivateAccess": True, "publicAccessCidrs": ["18.0.0.0/8"]},
        ),
        "18.0.0.0/8 is wider than /24",
        id="wide",
    ),
    Case("eks-endpoint-restricted-prod", EKS, _set("vpcConfig.endpointPrivateAccess", False), "endpointPrivateAccess"),
    Case("eks-public-access-cidrs", EKS, _set("vpcConfig.endpointPublicAccess", True), "publicAccessCidrs"),
    Case(
        "eks-public-access-cidrs",
        EKS,
        _set("vpcConfig", {"endpointPublicAccess": True, "publicAccessCidrs": ["0.0.0.0/0"]}),
        "0.0.0.0/0",
        id="open",
    ),
    Case("gke-private-nodes", GKE, _set("privateClusterConfig.enablePrivateNodes", False), "enablePrivateNodes"),
    Case(
        "gke-private-endpoint-prod",
        GKE,
        _set("privateClusterConfig.enablePrivateEndpoint", False),
        "enablePrivateEndpoint",
    ),
    Case(
        "gke-master-authorized-networks",
        GKE,
        _set("masterAuthorizedNetworksConfig.cidrBlocks.0.cidrBlock", "0.0.0.0/0"),
        "0.0.0.0/0",
    ),
    Case(
        "security-group-no-open-ingress",
        "aws:ec2/securityGroup:SecurityGroup",
        _set("ingress.0.toPort", 22.0),
        "443-22",
    ),
    Case(
        "security-group-no-open-ingress",
        "aws:ec2/securityGroupRule:SecurityGroupRule",
        _set("cidrBlocks", ["0.0.0.0/0"]),
        "5432-5432",
        id="rule",
    ),
    Case(
        "security-group-no-open-ingress",
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        _set("cidrIpv4", "0.0.0.0/0"),
        "6379",
        id="vpc-rule",
    ),
    Case("gcp-firewall-no-open-ingress", "gcp:compute/firewall:Firewall", _set("allows.0.ports", ["22"]), "22"),
    # identity
    Case(
        "iam-no-wildcard-actions",
        "aws:iam/policy:Policy",
        _set("policy", _doc({"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b"})),
        "s3:*",
    ),
    Case(
        "iam-no-wildcard-actions",
        "aws:iam/rolePolicy:RolePolicy",
        _set("policy", _doc({"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::b"})),
        "allows *",
        id="role-policy",
    ),
    Case(
        "iam-no-wildcard-actions",
        "aws:iam/role:Role",
        _set("inlinePolicies.0.policy", _doc({"Effect": "Allow", "Action": "ecr:*", "Resource": "*"})),
        "inlinePolicies[0]",
        id="inline",
    ),
    Case(
        "iam-no-wildcard-resources",
        "aws:iam/policy:Policy",
        _set("policy", _doc({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"})),
        "s3:GetObject on Resource '*'",
    ),
    Case(
        "iam-role-trust-not-public",
        "aws:iam/role:Role",
        _set("assumeRolePolicy", _doc({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"})),
        "Principal '*'",
    ),
    Case(
        "iam-no-admin-managed-policies",
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        _set("policyArn", "arn:aws:iam::aws:policy/AmazonS3FullAccess"),
        "AmazonS3FullAccess attached",
    ),
    Case("iam-no-access-keys", "aws:iam/role:Role", _retype("aws:iam/accessKey:AccessKey", user="ci"), "access key"),
    Case(
        "oidc-trust-pinned",
        "aws:iam/role:Role",
        _set("assumeRolePolicy", GITHUB_TRUST_WITHOUT_SUB),
        "does not pin token.actions.githubusercontent.com:sub",
    ),
    Case(
        "oidc-trust-pinned",
        "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider",
        _set("attributeCondition", "assertion.repository_owner == 'acme'"),
        "does not pin the repository",
        id="wif-provider",
    ),
    Case(
        "oidc-trust-pinned",
        "gcp:serviceaccount/account:Account",
        _retype(
            "gcp:serviceaccount/iAMMember:IAMMember",
            serviceAccountId="sa",
            role="roles/iam.workloadIdentityUser",
            member="principalSet://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/ci/*",
        ),
        "every identity of the pool",
        id="whole-pool",
    ),
    Case(
        "gcp-no-authoritative-iam",
        PM,
        _retype("gcp:projects/iAMBinding:IAMBinding", members=["user:a@b.c"]),
        "IAMBinding is authoritative",
    ),
    Case(
        "gcp-no-authoritative-iam",
        "gcp:storage/bucketIAMMember:BucketIAMMember",
        _retype("gcp:storage/bucketIAMBinding:BucketIAMBinding", members=["user:a@b.c"]),
        "BucketIAMBinding",
        id="bucket",
    ),
    Case("gcp-no-project-storage-roles", PM, _set("role", "roles/storage.objectAdmin"), "on the project"),
    Case("gcp-no-primitive-roles", PM, _set("role", "roles/editor"), "primitive"),
    Case(
        "gcp-no-public-iam-members",
        "gcp:storage/bucketIAMMember:BucketIAMMember",
        _set("member", "allUsers"),
        "allUsers",
    ),
    Case(
        "gcp-no-service-account-keys",
        "gcp:serviceaccount/account:Account",
        _retype("gcp:serviceaccount/key:Key", serviceAccountId="sa"),
        "Workload Identity",
    ),
    # kubernetes
    Case("k8s-resources-set", DEP, _set(f"{C0}.resources.limits", {}), "resources.limits.memory"),
    Case(
        "k8s-resources-set",
        CRON,
        _set("spec.jobTemplate.spec.template.spec.containers.0.resources", DELETE),
        "requests.cpu",
        id="cronjob",
    ),
    Case("k8s-run-as-non-root", DEP, _set(f"{C0}.securityContext.runAsNonRoot", False), "runs as root"),
    Case(
        "k8s-read-only-root-fs",
        DEP,
        _set(f"{C0}.securityContext.readOnlyRootFilesystem", DELETE),
        "readOnlyRootFilesystem",
    ),
    Case(
        "k8s-no-privilege-escalation",
        DEP,
        _set(f"{C0}.securityContext.allowPrivilegeEscalation", True),
        "allowPrivilegeEscalation",
    ),
    Case(
        "k8s-no-privilege-escalation",
        DEP,
        _set(f"{C0}.securityContext.privileged", True),
        "privileged",
        id="privileged",
    ),
    Case("k8s-drop-capabilities", DEP, _set(f"{C0}.securityContext.capabilities.drop", ["NET_RAW"]), "'ALL'"),
    Case("k8s-probes", DEP, _set(f"{C0}.livenessProbe", DELETE), "no livenessProbe"),
    Case("k8s-image-pinned", DEP, _set(f"{C0}.image", "ghcr.io/pulumi-mlops/runtime:latest"), "'latest'"),
    Case("k8s-image-pinned", DEP, _set(f"{C0}.image", "ghcr.io/pulumi-mlops/runtime"), "no tag", id="untagged"),
    Case(
        "k8s-allowed-registries", DEP, _set(f"{C0}.image", "docker.io/evil/miner:1.0"), "not from an allowed registry"
    ),
    Case("k8s-no-host-namespaces", DEP, _set("spec.template.spec.hostNetwork", True), "hostNetwork"),
    Case(
        "k8s-gpu-pods-tolerate-taint",
        DEP,
        _set(f"{C0}.resources.limits", {"memory": "1Gi", "nvidia.com/gpu": "1"}),
        "toleration",
    ),
    Case("helm-chart-version-pinned", "kubernetes:helm.sh/v3:Release", _set("version", DELETE), "no version"),
    Case(
        "helm-chart-version-pinned",
        "kubernetes:helm.sh/v3:Release",
        _set("version", "^4.0.0"),
        "is a range",
        id="range",
    ),
    # rbac
    Case(
        "k8s-rbac-no-cluster-admin-for-service-accounts",
        CRB,
        _set("subjects.0", {"kind": "ServiceAccount", "name": "trainer", "namespace": "training"}),
        "ServiceAccount training/trainer is bound to ClusterRole cluster-admin",
    ),
    Case(
        "k8s-rbac-no-cluster-admin-for-service-accounts",
        RB,
        _set("roleRef", {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"}),
        "ServiceAccount serving/drift",
        id="namespaced",
    ),
    Case(
        "k8s-rbac-no-wildcard-rules",
        ROLE,
        _set("rules.0", {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}),
        "rules[0] grants verbs '*' on resources '*'",
    ),
    Case("k8s-rbac-no-escalation-verbs", CR, _set("rules.1.verbs", ["get", "bind"]), "grants 'bind' on roles"),
    Case(
        "k8s-rbac-no-escalation-verbs",
        CR,
        _set("rules.1", {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"], "verbs": ["*"]}),
        "grants 'escalate' on clusterroles",
        id="wildcard-verbs",
    ),
    Case(
        "k8s-rbac-no-escalation-verbs",
        ROLE,
        _set("rules.0", {"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["impersonate"]}),
        "grants 'impersonate' on serviceaccounts",
        id="impersonate",
    ),
    Case(
        "k8s-rbac-no-wide-secret-reads",
        CR,
        _set("rules.0.resources", ["pods", "secrets"]),
        "grants get, list, watch on pods, secrets: reads every Secret in every namespace",
    ),
    Case(
        "k8s-rbac-no-wide-secret-reads",
        ROLE,
        _set("rules.2", {"apiGroups": [""], "resources": ["*"], "verbs": ["list"]}),
        "grants list on *: reads every Secret in the namespace",
        id="role-wildcard",
    ),
    # exposure
    Case(
        "k8s-load-balancer-restricted",
        SVC,
        _set("spec.loadBalancerSourceRanges", DELETE),
        "internet-facing load balancer without loadBalancerSourceRanges",
    ),
    Case(
        "k8s-load-balancer-restricted",
        SVC,
        _set("spec.loadBalancerSourceRanges", ["203.0.113.0/24", "0.0.0.0/0"]),
        "0.0.0.0/0 admits the whole internet",
        id="open-range",
    ),
    Case(
        "k8s-load-balancer-restricted",
        ENVOY,
        _set("spec.provider.kubernetes.envoyService.annotations", {}),
        "envoyService is an internet-facing load balancer",
        id="envoy-proxy",
    ),
    Case(
        "k8s-load-balancer-restricted",
        ENVOY,
        _set(
            "spec.provider.kubernetes.envoyService.annotations",
            {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing"},
        ),
        "without loadBalancerSourceRanges",
        id="envoy-internet-facing",
    ),
    Case("k8s-no-nodeport-services", SVC, _set("spec.type", "NodePort"), "spec.type is NodePort"),
    Case(
        "k8s-no-nodeport-services",
        SVC,
        _set("spec", {"type": "NodePort", "ports": [{"port": 80.0, "nodePort": 30080.0}]}),
        "(nodePort 30080)",
        id="fixed-port",
    ),
    Case("k8s-configmap-no-credentials", CM, _set("data.api_key", "sk-live-1234"), "data['api_key'] is named like"),
    Case(
        "k8s-configmap-no-credentials",
        CM,
        _set("data.AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        "data['AWS_SECRET_ACCESS_KEY'] is named like a credential",
        id="aws-secret-key",
    ),
    Case(
        "k8s-configmap-no-credentials",
        CM,
        _data("settings.ini", "[aws]\nkey = AKIAIOSFODNN7EXAMPLE\n"),
        "data['settings.ini'] contains an AWS access key id",
        id="access-key-id",
    ),
    Case(
        "k8s-configmap-no-credentials",
        CM,
        _data("tls.key", "-----BEGIN RSA PRIVATE KEY-----\nMIIE...\n-----END RSA PRIVATE KEY-----\n"),
        "data['tls.key'] contains a PEM private key",
        id="pem",
    ),
    Case(
        "k8s-configmap-no-credentials",
        CM,
        _set("binaryData", {"keystore.password": "c2VjcmV0"}),
        "binaryData['keystore.password']",
        id="binary",
    ),
    # tagging
    Case("required-tags", S3, _set("tags.owner", DELETE), "tags lacks owner"),
    Case("required-tags", GCS, _set("labels", {"environment": "prod"}), "labels lacks owner, cost-center", id="gcs"),
    Case("required-tags", SQL, _set("settings.userLabels", DELETE), "settings.userLabels lacks", id="cloudsql"),
    Case("kubernetes-required-labels", DEP, _set("metadata.labels", {"app": "x"}), "metadata.labels lacks environment"),
    Case("environment-tag-matches", S3, _set("tags.environment", "dev"), "expected 'prod'", {"environment": "prod"}),
]

POLICY_BY_NAME = {p.name: p for p in ALL_POLICIES}
RESOURCE_POLICIES = sorted(p.name for p in ALL_POLICIES if isinstance(p, ResourceValidationPolicy))


def run(policy_name: str, type_: str, props: Props, config: dict[str, Any], provider: Props | None = None) -> list[str]:
    policy = POLICY_BY_NAME[policy_name]
    assert isinstance(policy, ResourceValidationPolicy)
    keys = getattr(policy, "config_keys", ())
    full = {k: DEFAULT_CONFIG[k] for k in keys}
    full.update({"profile": "prod", **config})
    opts = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None)
    prov = PolicyProviderResource("pulumi:providers:aws", provider, "urn:prov", "prov") if provider else None
    args = ResourceValidationArgs(
        type_, unknown_checking_proxy(copy.deepcopy(props)), f"urn:pulumi:prod::p::{type_}::r", "r", opts, prov, full
    )
    messages: list[str] = []
    policy.validate(args, lambda message, urn=None: messages.append(message))
    return messages


def _case_id(case: Case) -> str:
    return f"{case.policy}{'-' + case.id if case.id else ''}"


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_policy_is_silent_on_the_baseline(case: Case) -> None:
    assert run(case.policy, case.type, BASELINES[case.type], case.config) == []


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_policy_fires_on_the_broken_field(case: Case) -> None:
    type_, props = case.mutation(case.type, copy.deepcopy(BASELINES[case.type]))
    messages = run(case.policy, type_, props, case.config)
    assert messages, f"{case.policy} did not fire"
    assert any(case.fragment in m for m in messages), messages


SEPARATELY_TESTED = frozenset(p.name for m in (aws_services, gcp_services, ml_services, pods) for p in m.POLICIES)
"""Policies whose cases live in their module's own test file (``test_aws_services.py``, ``test_pod_specs_policies.py``,
...), on SDK-built baselines."""


def test_every_resource_policy_has_a_case() -> None:
    wanted = sorted(set(RESOURCE_POLICIES) - SEPARATELY_TESTED)
    assert sorted({c.policy for c in CASES} & set(wanted)) == wanted


def test_baselines_pass_every_policy_of_the_pack() -> None:
    """A baseline is valid for the whole pack, not just for the policies its cases break."""
    for type_, props in BASELINES.items():
        for name in RESOURCE_POLICIES:
            config = DEV if name in ("gpu-pool-spot-in-dev", "gpu-pool-scale-to-zero-in-dev") else {}
            assert run(name, type_, props, {"environment": "prod", **config}) == [], (name, type_)


def test_policies_ignore_other_resource_types() -> None:
    assert run("s3-bucket-versioning", "aws:s3/bucket:Bucket", {"tags": {}}, {}) == []


def test_prod_only_policies_are_silent_in_dev() -> None:
    props = {**BASELINES[RDS], "deletionProtection": False}
    assert run("rds-deletion-protection-prod", RDS, props, DEV) == []
    assert run("rds-deletion-protection-prod", RDS, props, {}) != []


def test_provider_default_tags_count_as_tags() -> None:
    props = {"bucket": "b", "tags": {"role": "models"}}
    assert run("required-tags", S3, props, {}, provider={"region": "us-east-1"})
    default_tags = json.dumps({"tags": TAGS})  # the engine passes provider objects JSON-encoded
    assert run("required-tags", S3, props, {}, provider={"defaultTags": default_tags}) == []


def test_allowed_registries_accept_wildcard_prefixes() -> None:
    image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/mlops-prod-serving:1.0"
    props = copy.deepcopy(BASELINES[DEP])
    props["spec"]["template"]["spec"]["containers"][0]["image"] = image
    assert run("k8s-allowed-registries", DEP, props, {})
    allowed = {"allowedRegistries": ["*.dkr.ecr.us-east-1.amazonaws.com/"]}
    assert run("k8s-allowed-registries", DEP, props, allowed) == []


def test_gpu_cap_uses_the_configured_cap() -> None:
    assert run("gpu-pool-max-gpus", NG, BASELINES[NG], {"maxGpusPerPool": 1}) == [
        "max 2 nodes x 1 GPUs = 2 GPUs exceeds maxGpusPerPool (1)"
    ]

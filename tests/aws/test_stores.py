"""ECR, RDS PostgreSQL and ElastiCache Redis: encryption, private reachability, credentials, dev vs prod."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from aws_support import is_secret, one, props

from pulumi_mlops.preview import PreviewResult

Previews = Callable[[str], PreviewResult]
KEY = "arn:aws:kms:us-east-1:123456789012:key/mlops-buckets-key-key-id"


def test_ecr_repositories_are_immutable_scanned_and_kms_encrypted(previews: Previews) -> None:
    graph = previews("dev").graph
    repos = {props(r)["name"]: props(r) for r in graph.of_type("aws:ecr/repository:Repository")}
    assert set(repos) == {"mlops-dev/runtime", "mlops-dev/mlflow"}
    for repo in repos.values():
        assert repo["imageTagMutability"] == "IMMUTABLE"
        assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
        assert repo["encryptionConfigurations"] == [{"encryptionType": "KMS", "kmsKey": KEY}]
    policies = graph.of_type("aws:ecr/lifecyclePolicy:LifecyclePolicy")
    assert len(policies) == 2
    for policy in policies:
        (rule,) = json.loads(props(policy)["policy"])["rules"]
        assert rule["selection"] == {"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 10}
        assert rule["action"] == {"type": "expire"}


def test_database_is_private_encrypted_and_reachable_only_from_the_cluster(previews: Previews) -> None:
    graph = previews("dev").graph
    db = one(graph, "aws:rds/instance:Instance")
    p = props(db)
    assert p["engine"] == "postgres" and p["engineVersion"] == "16"
    assert p["storageEncrypted"] is True and p["kmsKeyId"] == KEY
    assert p["publiclyAccessible"] is False
    subnets = props(graph.named("mlops-tracking-subnets"))["subnetIds"]
    assert subnets == ["mlops-network-private-0-id", "mlops-network-private-1-id"]
    sg = props(graph.named("mlops-tracking-sg"))
    assert p["vpcSecurityGroupIds"] == ["mlops-tracking-sg-id"]
    (rule,) = sg["ingress"]
    assert (rule["protocol"], rule["fromPort"], rule["toPort"]) == ("tcp", 5432.0, 5432.0)
    assert rule["securityGroups"] == ["sg-mlops-dev-eks-cluster"]
    assert not rule.get("cidrBlocks") and not rule.get("ipv6CidrBlocks")
    assert "egress" not in sg or sg["egress"] in ([], None)
    params = props(graph.named("mlops-tracking-params"))["parameters"]
    assert ("rds.force_ssl", "1") in {(param["name"], param["value"]) for param in params}


def test_database_password_is_random_and_kept_in_secrets_manager(previews: Previews) -> None:
    graph = previews("dev").graph
    db = one(graph, "aws:rds/instance:Instance")
    assert is_secret(db.inputs["password"])
    password = props(db)["password"]
    assert password == "preview-password-mlops-tracking-password"
    random = props(graph.named("mlops-tracking-password"))
    assert random["length"] == 32.0 and not set('/@" ') & set(random["overrideSpecial"])
    version = graph.named("mlops-tracking-credentials-value")
    assert is_secret(version.inputs["secretString"])
    stored = json.loads(props(version)["secretString"])
    assert stored["password"] == password and stored["username"] == "mlflow"
    assert stored["host"] == "mlops-dev-mlflow-db.cmock.us-east-1.rds.amazonaws.com"
    assert props(graph.named("mlops-tracking-credentials"))["kmsKeyId"] == KEY


def test_database_dev_vs_prod(previews: Previews) -> None:
    dev = props(one(previews("dev").graph, "aws:rds/instance:Instance"))
    prod_db = one(previews("prod").graph, "aws:rds/instance:Instance")
    prod = props(prod_db)
    assert (dev["multiAz"], dev["deletionProtection"], dev["skipFinalSnapshot"]) == (False, False, True)
    assert (prod["multiAz"], prod["deletionProtection"], prod["skipFinalSnapshot"]) == (True, True, False)
    assert dev["backupRetentionPeriod"] == 1.0 and prod["backupRetentionPeriod"] == 14.0
    # Unique per destroy: the final snapshot outlives the instance, so its name carries a random suffix.
    suffix = previews("prod").graph.named("mlops-tracking-final-snapshot-suffix")
    assert suffix.type == "random:index/randomId:RandomId" and suffix.parent == prod_db.parent
    assert prod_db.property_dependencies["finalSnapshotIdentifier"] == [suffix.urn]
    assert re.fullmatch(r"mlops-prod-mlflow-db-final-[0-9a-f]{8}", prod["finalSnapshotIdentifier"])
    assert "finalSnapshotIdentifier" not in dev
    assert (dev["instanceClass"], prod["instanceClass"]) == ("db.t4g.micro", "db.r6g.large")


def test_redis_encrypted_with_auth_token_and_private(previews: Previews) -> None:
    graph = previews("dev").graph
    group = one(graph, "aws:elasticache/replicationGroup:ReplicationGroup")
    p = props(group)
    assert p["atRestEncryptionEnabled"] is True and p["kmsKeyId"] == KEY
    assert p["transitEncryptionEnabled"] is True
    assert is_secret(group.inputs["authToken"])
    token = props(graph.named("mlops-online-store-auth-token"))
    assert token["special"] is False and token["length"] >= 32
    assert p["subnetGroupName"] == "mlops-dev-feast-redis"
    assert props(graph.named("mlops-online-store-subnets"))["subnetIds"] == [
        "mlops-network-private-0-id",
        "mlops-network-private-1-id",
    ]
    (rule,) = props(graph.named("mlops-online-store-sg"))["ingress"]
    assert (rule["fromPort"], rule["toPort"], rule["securityGroups"]) == (6379.0, 6379.0, ["sg-mlops-dev-eks-cluster"])
    assert not rule.get("cidrBlocks")
    stored = json.loads(props(graph.named("mlops-online-store-auth-value"))["secretString"])
    assert stored["auth_token"] == p["authToken"] and stored["tls"] is True


def test_redis_dev_vs_prod(previews: Previews) -> None:
    dev = props(one(previews("dev").graph, "aws:elasticache/replicationGroup:ReplicationGroup"))
    prod = props(one(previews("prod").graph, "aws:elasticache/replicationGroup:ReplicationGroup"))
    assert (dev["numCacheClusters"], dev["automaticFailoverEnabled"], dev["multiAzEnabled"]) == (1.0, False, False)
    assert (prod["numCacheClusters"], prod["automaticFailoverEnabled"], prod["multiAzEnabled"]) == (3.0, True, True)


def test_account_scoped_and_retained_names_are_unique_per_stack(previews: Previews) -> None:
    # KMS aliases are unique per account and Region; a deleted secret keeps its name for 7-30 days.
    for stack in ("dev", "prod"):
        graph = previews(stack).graph
        (alias,) = graph.of_type("aws:kms/alias:Alias")
        assert props(alias)["name"] == f"alias/mlops-{stack}-buckets"
        prefixes = {props(s).get("namePrefix") for s in graph.of_type("aws:secretsmanager/secret:Secret")}
        assert prefixes == {f"mlops-{stack}-mlflow/mlflow-db-", f"mlops-{stack}-feast/feast-redis-"}
        assert all("name" not in props(s) for s in graph.of_type("aws:secretsmanager/secret:Secret"))

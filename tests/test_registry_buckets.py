"""RegistryBuckets on AWS and GCP: the security-relevant inputs, asserted on captured wire inputs."""

from __future__ import annotations

import json
import re

import pytest
from pulumi_mlops.components.aws.registry_buckets import RegistryBuckets as AwsBuckets
from pulumi_mlops.components.aws.registry_buckets import RegistryBucketsArgs as AwsArgs
from pulumi_mlops.components.bucket_names import bucket_name
from pulumi_mlops.components.gcp.registry_buckets import RegistryBuckets as GcpBuckets
from pulumi_mlops.components.gcp.registry_buckets import RegistryBucketsArgs as GcpArgs

from pulumi_mlops.preview import ResourceGraph, run_program
from pulumi_mlops.spec import BucketsSpec

TAGS = {"owner": "team", "cost-center": "cc", "environment": "dev", "managed-by": "pulumi-mlops"}


def aws_graph(spec: BucketsSpec) -> ResourceGraph:
    return run_program(lambda: AwsBuckets("reg", AwsArgs(spec=spec, tags=TAGS)) and None, {})


def gcp_graph(spec: BucketsSpec) -> ResourceGraph:
    args = GcpArgs(spec=spec, project="acme-ml-dev", location="europe-west4", labels=TAGS)
    return run_program(lambda: GcpBuckets("reg", args) and None, {})


class TestAws:
    def test_three_private_versioned_kms_encrypted_buckets(self) -> None:
        graph = aws_graph(BucketsSpec())
        buckets = graph.of_type("aws:s3/bucket:Bucket")
        assert sorted(b.name for b in buckets) == ["reg-datasets", "reg-models", "reg-prediction-logs"]
        key = graph.of_type("aws:kms/key:Key")[0]
        assert key.props["enableKeyRotation"] is True

        blocks = graph.of_type("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
        assert len(blocks) == 3
        for block in blocks:
            for flag in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"):
                assert block.props[flag] is True, f"{block.name}: {flag}"

        versioning = graph.of_type("aws:s3/bucketVersioning:BucketVersioning")
        assert [v.props["versioningConfiguration"]["status"] for v in versioning] == ["Enabled"] * 3

        key_arn = "arn:aws:kms:us-east-1:123456789012:key/reg-key-key-id"
        for enc in graph.of_type(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
        ):
            rule = enc.props["rules"][0]
            assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": key_arn}
            assert rule["bucketKeyEnabled"] is True

    def test_bucket_policies_deny_every_request_without_tls(self) -> None:
        graph = aws_graph(BucketsSpec())
        policies = graph.of_type("aws:s3/bucketPolicy:BucketPolicy")
        assert len(policies) == 3
        for policy in policies:
            doc = json.loads(policy.props["policy"])
            (statement,) = doc["Statement"]
            assert statement["Effect"] == "Deny"
            assert statement["Principal"] == "*"
            assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            bucket = policy.name.removesuffix("-tls-only")
            arn = f"arn:aws:s3:::{bucket}-123456789012-us-east-1"
            assert sorted(statement["Resource"]) == [arn, f"{arn}/*"]

    def test_lifecycle_expires_noncurrent_versions_and_ages_out_logs(self) -> None:
        spec = BucketsSpec(noncurrent_version_days=11, log_transition_days=45, log_expiration_days=400)
        graph = aws_graph(spec)
        rules = {
            r.name: r.props["rules"]
            for r in graph.of_type("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
        }
        for name, bucket_rules in rules.items():
            noncurrent = next(r for r in bucket_rules if r["id"] == "expire-noncurrent-versions")
            assert noncurrent["noncurrentVersionExpiration"]["noncurrentDays"] == 11, name
        logs = next(r for r in rules["reg-prediction-logs-lifecycle"] if r["id"] == "age-out-logs")
        assert logs["transitions"] == [{"days": 45, "storageClass": "STANDARD_IA"}]
        assert logs["expiration"]["days"] == 400
        assert all(r["id"] != "age-out-logs" for r in rules["reg-models-lifecycle"])

    @pytest.mark.parametrize("force_destroy", [True, False])
    def test_force_destroy_follows_the_spec(self, force_destroy: bool) -> None:
        graph = aws_graph(BucketsSpec(force_destroy=force_destroy))
        assert {b.props["forceDestroy"] for b in graph.of_type("aws:s3/bucket:Bucket")} == {force_destroy}

    def test_tags_on_buckets_and_key(self) -> None:
        graph = aws_graph(BucketsSpec())
        for res in [*graph.of_type("aws:s3/bucket:Bucket"), *graph.of_type("aws:kms/key:Key")]:
            assert TAGS.items() <= res.props["tags"].items(), res.name

    def test_key_alias_is_the_given_environment_name(self) -> None:
        graph = run_program(
            lambda: AwsBuckets("reg", AwsArgs(spec=BucketsSpec(), tags=TAGS, key_alias="mlops-dev-buckets")) and None,
            {},
        )
        (alias,) = graph.of_type("aws:kms/alias:Alias")
        assert alias.props["name"] == "alias/mlops-dev-buckets"
        assert alias.property_dependencies["targetKeyId"] == [graph.named("reg-key").urn]
        assert graph.of_type("random:index/randomId:RandomId") == []

    def test_key_alias_without_a_name_gets_a_random_suffix(self) -> None:
        graph = aws_graph(BucketsSpec())
        (component,) = graph.of_type("pulumi-mlops:aws:RegistryBuckets")
        (alias,) = graph.of_type("aws:kms/alias:Alias")
        (suffix,) = graph.of_type("random:index/randomId:RandomId")
        assert suffix.parent == component.urn and suffix.props["byteLength"] == 4
        assert alias.property_dependencies["name"] == [suffix.urn]
        assert re.fullmatch(r"alias/reg-buckets-[0-9a-f]{8}", alias.props["name"])

    def test_buckets_are_named_by_stem_role_account_and_region(self) -> None:
        graph = run_program(lambda: AwsBuckets("reg", AwsArgs(spec=BucketsSpec(), stem="mlops-dev")) and None, {})
        names = sorted(b.props["bucket"] for b in graph.of_type("aws:s3/bucket:Bucket"))
        assert names == [
            f"mlops-dev-{role}-123456789012-us-east-1" for role in ("datasets", "models", "prediction-logs")
        ]

    def test_children_hang_under_the_component(self) -> None:
        graph = aws_graph(BucketsSpec())
        (component,) = graph.of_type("pulumi-mlops:aws:RegistryBuckets")
        for bucket in graph.of_type("aws:s3/bucket:Bucket"):
            assert bucket.parent == component.urn
        for block in graph.of_type("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"):
            assert graph.resources[block.parent or ""].type == "aws:s3/bucket:Bucket"


class TestGcp:
    def test_buckets_are_named_by_stem_role_and_project(self) -> None:
        args = GcpArgs(spec=BucketsSpec(), project="acme-ml-dev", location="europe-west4", stem="mlops-gcp-dev")
        graph = run_program(lambda: GcpBuckets("reg", args) and None, {})
        names = sorted(b.props["name"] for b in graph.of_type("gcp:storage/bucket:Bucket"))
        assert names == [f"mlops-gcp-dev-{role}-acme-ml-dev" for role in ("datasets", "models", "prediction-logs")]

    def test_uniform_access_public_prevention_versioning(self) -> None:
        graph = gcp_graph(BucketsSpec())
        buckets = graph.of_type("gcp:storage/bucket:Bucket")
        assert len(buckets) == 3
        for bucket in buckets:
            props = bucket.props
            assert props["uniformBucketLevelAccess"] is True
            assert props["publicAccessPrevention"] == "enforced"
            assert props["versioning"] == {"enabled": True}
            assert props["location"] == "EUROPE-WEST4"
            assert TAGS.items() <= props["labels"].items()

    def test_cmek_key_and_the_storage_agent_grant(self) -> None:
        graph = gcp_graph(BucketsSpec(cmek=True))
        (key,) = graph.of_type("gcp:kms/cryptoKey:CryptoKey")
        (grant,) = graph.of_type("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember")
        assert grant.props["role"] == "roles/cloudkms.cryptoKeyEncrypterDecrypter"
        assert grant.props["member"].startswith("serviceAccount:service-")
        assert grant.props["member"].endswith("@gs-project-accounts.iam.gserviceaccount.com")
        key_id = grant.props["cryptoKeyId"]
        for bucket in graph.of_type("gcp:storage/bucket:Bucket"):
            assert bucket.props["encryption"] == {"defaultKmsKeyName": key_id}
            assert grant.urn in bucket.dependencies, "buckets must wait for the key grant"
        assert key.props["rotationPeriod"] == "7776000s"

    def test_key_ring_name_is_fresh_after_a_destroy(self) -> None:
        # Cloud KMS never deletes key rings or keys: the ring's name carries a random suffix of the stack.
        graph = gcp_graph(BucketsSpec(cmek=True))
        (component,) = graph.of_type("pulumi-mlops:gcp:RegistryBuckets")
        (ring,) = graph.of_type("gcp:kms/keyRing:KeyRing")
        (key,) = graph.of_type("gcp:kms/cryptoKey:CryptoKey")
        (suffix,) = graph.of_type("random:index/randomId:RandomId")
        assert suffix.parent == component.urn
        assert ring.property_dependencies["name"] == [suffix.urn]
        assert re.fullmatch(r"reg-buckets-[0-9a-f]{8}", ring.props["name"])
        assert key.property_dependencies["keyRing"] == [ring.urn]
        assert key.props["keyRing"].endswith(f"/keyRings/{ring.props['name']}")

    def test_without_cmek_no_key_is_created(self) -> None:
        graph = gcp_graph(BucketsSpec(cmek=False))
        assert graph.of_type("gcp:kms/cryptoKey:CryptoKey") == []
        assert all("encryption" not in b.props for b in graph.of_type("gcp:storage/bucket:Bucket"))

    def test_lifecycle_rules(self) -> None:
        graph = gcp_graph(BucketsSpec(noncurrent_version_days=9, log_transition_days=31, log_expiration_days=90))
        rules = {b.name: b.props["lifecycleRules"] for b in graph.of_type("gcp:storage/bucket:Bucket")}
        for name, bucket_rules in rules.items():
            noncurrent = [r for r in bucket_rules if r["condition"].get("daysSinceNoncurrentTime")]
            assert noncurrent[0]["condition"]["daysSinceNoncurrentTime"] == 9, name
            assert noncurrent[0]["action"]["type"] == "Delete"
        log_actions = {(r["action"]["type"], r["condition"].get("age")) for r in rules["reg-prediction-logs"]}
        assert {("SetStorageClass", 31), ("Delete", 90)} <= log_actions
        assert ("Delete", 90) not in {(r["action"]["type"], r["condition"].get("age")) for r in rules["reg-models"]}

    @pytest.mark.parametrize("force_destroy", [True, False])
    def test_force_destroy_follows_the_spec(self, force_destroy: bool) -> None:
        graph = gcp_graph(BucketsSpec(force_destroy=force_destroy))
        assert {b.props["forceDestroy"] for b in graph.of_type("gcp:storage/bucket:Bucket")} == {force_destroy}


def test_long_bucket_names_are_cut_to_63_characters_and_stay_unique() -> None:
    stem = "a-very-long-platform-name-" + "x" * 20
    names = {bucket_name(f"{stem}-{env}", "prediction-logs", "123456789012-ap-southeast-2") for env in ("dev", "prd")}
    assert len(names) == 2
    for name in names:
        assert len(name) <= 63
        assert name.endswith("-prediction-logs-123456789012-ap-southeast-2")
        assert re.fullmatch(r"[a-z0-9][a-z0-9-]*[a-z0-9]", name)
    assert bucket_name("mlops-dev", "models", "acme-ml-dev") == "mlops-dev-models-acme-ml-dev"

"""What the managed stores share: a security group open to the cluster only, and a KMS-encrypted secret."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_aws as aws

__all__ = ["cluster_only_security_group", "encrypted_secret"]


def cluster_only_security_group(
    name: str,
    service: str,
    port: int,
    vpc_id: pulumi.Input[str],
    client_security_group_id: pulumi.Input[str],
    tags: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> aws.ec2.SecurityGroup:
    """``<name>-sg``: admits TCP ``port`` from the EKS cluster security group and nothing else."""
    return aws.ec2.SecurityGroup(
        f"{name}-sg",
        description=f"{service} from the EKS cluster only",
        vpc_id=vpc_id,
        ingress=[
            aws.ec2.SecurityGroupIngressArgs(
                protocol="tcp",
                from_port=port,
                to_port=port,
                security_groups=[client_security_group_id],
                description=f"EKS cluster to {service}",
            )
        ],
        tags=dict(tags),
        opts=opts,
    )


def encrypted_secret(
    resource_name: str,
    name_stem: str,
    description: str,
    kms_key_arn: pulumi.Input[str],
    value: pulumi.Input[str],
    tags: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> aws.secretsmanager.Secret:
    """A Secrets Manager secret encrypted with the platform key, and its value (``<resource_name>-value``).

    The secret is named ``<name_stem>-<unique suffix>`` (``namePrefix``): a deleted secret keeps its name
    for the 7-30 day recovery window, so a fixed name would make the ``up`` after a ``destroy`` fail.
    Readers find it by ARN.
    """
    secret = aws.secretsmanager.Secret(
        resource_name,
        name_prefix=f"{name_stem}-",
        description=description,
        kms_key_id=kms_key_arn,
        tags=dict(tags),
        opts=opts,
    )
    aws.secretsmanager.SecretVersion(
        f"{resource_name}-value", secret_id=secret.id, secret_string=value, opts=pulumi.ResourceOptions(parent=secret)
    )
    return secret

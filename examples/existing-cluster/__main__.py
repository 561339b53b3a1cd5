"""Reuse pulumi-mlops components in a cluster you already run: one GPU pool and one model endpoint.

Nothing here creates a VPC or a cluster; the components take what exists through config.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s
from pulumi_mlops.components.aws.gpu_node_pool import GpuNodePool, GpuNodePoolArgs
from pulumi_mlops.components.k8s import ClusterContext, GpuScheduling, ServingEndpoint, ServingEndpointArgs
from pulumi_mlops.components.k8s.gateway import GatewayRef
from pulumi_mlops.runtime.config import ModelRef, ResourceSpec, ServingSpec

from pulumi_mlops.spec import CanarySpec, EndpointSpec, GpuPoolSpec

config = pulumi.Config()
tags = {"owner": "ml-platform", "cost-center": "ml-1234", "environment": "prod", "managed-by": "pulumi-mlops"}

pool = GpuNodePool(
    "l4",
    GpuNodePoolArgs(
        pool=GpuPoolSpec(name="l4", accelerator="nvidia-l4", instance_type="g6.xlarge", min_nodes=0, max_nodes=4),
        cluster_name=config.require("clusterName"),
        node_role_arn=config.require("nodeRoleArn"),
        subnet_ids=config.require_object("subnetIds"),
        gpu=GpuScheduling(taint_value="true"),
        tags=tags,
    ),
)

provider = k8s.Provider("cluster", kubeconfig=config.require_secret("kubeconfig"))
context = ClusterContext(
    provider=provider,
    cloud="aws",
    bucket_uris={"prediction-logs": config.require("predictionLogs")},
    depends_on=[pool],
)
gateway = config.require_object("gateway")
endpoint = ServingEndpoint(
    "churn",
    ServingEndpointArgs(
        endpoint=EndpointSpec(
            name="churn",
            serving=ServingSpec(model=ModelRef(name="churn", alias="champion")),
            min_replicas=2,
            max_replicas=6,
            resources=ResourceSpec(cpu="1", memory="2Gi", gpus=1),
            gpu_pool="l4",
            canary=CanarySpec(alias="challenger", weight=10),
        ),
        context=context,
        namespace=config.require("namespace"),
        image=config.require("image"),
        service_account=config.require("serviceAccount"),
        gateway=GatewayRef(name=gateway["name"], namespace=gateway["namespace"], section_name=gateway["section_name"]),
        prediction_log_root=config.require("predictionLogs"),
        labels=tags,
    ),
)

pulumi.export("gpuNodeGroup", pool.node_group.node_group_name)
pulumi.export("maxGpus", pool.max_gpus)
pulumi.export("services", endpoint.services)

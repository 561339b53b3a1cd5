"""Cloud-neutral Kubernetes components: serving, training, MLflow, Feast, monitoring."""

from .batch import BatchScoringJob, BatchScoringJobArgs
from .context import WORKLOAD_ROLES, ClusterContext, DatabaseRef, GpuScheduling, RedisRef
from .drift import DriftMonitor, DriftMonitorArgs, RetrainTrigger, RetrainTriggerArgs
from .envoy_gateway import EnvoyGateway, EnvoyGatewayArgs
from .feature_server import FeatureServer, FeatureServerArgs
from .gateway import Gateway, GatewayArgs, GatewayRef
from .mlflow import MlflowServer, MlflowServerArgs
from .monitoring import Monitoring, MonitoringArgs
from .namespaces import Namespaces, NamespacesArgs, namespace_name, service_account_subject
from .platform_services import PlatformServices, PlatformServicesArgs
from .serving import ServingEndpoint, ServingEndpointArgs
from .training import TrainingJob, TrainingJobArgs

__all__ = [
    "WORKLOAD_ROLES",
    "BatchScoringJob",
    "BatchScoringJobArgs",
    "ClusterContext",
    "DatabaseRef",
    "DriftMonitor",
    "DriftMonitorArgs",
    "EnvoyGateway",
    "EnvoyGatewayArgs",
    "FeatureServer",
    "FeatureServerArgs",
    "Gateway",
    "GatewayArgs",
    "GatewayRef",
    "GpuScheduling",
    "MlflowServer",
    "MlflowServerArgs",
    "Monitoring",
    "MonitoringArgs",
    "Namespaces",
    "NamespacesArgs",
    "PlatformServices",
    "PlatformServicesArgs",
    "RedisRef",
    "RetrainTrigger",
    "RetrainTriggerArgs",
    "ServingEndpoint",
    "ServingEndpointArgs",
    "TrainingJob",
    "TrainingJobArgs",
    "namespace_name",
    "service_account_subject",
]

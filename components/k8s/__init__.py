"""Cloud-neutral Kubernetes components: serving, training, MLflow, Feast, monitoring."""

from .context import WORKLOAD_ROLES, ClusterContext, DatabaseRef, GpuScheduling, RedisRef

__all__ = ["WORKLOAD_ROLES", "ClusterContext", "DatabaseRef", "GpuScheduling", "RedisRef"]

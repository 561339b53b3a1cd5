"""Cloud-neutral Kubernetes components: serving, training, MLflow, Feast, monitoring."""

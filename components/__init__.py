"""Reusable Pulumi components for the MLOps platform: AWS (EKS), GCP (GKE) and Kubernetes."""

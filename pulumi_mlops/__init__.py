"""pulumi-mlops: an MLOps platform on EKS or GKE, built with Pulumi, and the code that runs on it."""

__version__ = "0.1.0"

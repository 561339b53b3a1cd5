"""The code that runs on the platform: training, registry, serving, drift and retraining.

This package never imports Pulumi; its configuration lives in :mod:`pulumi_mlops.runtime.config`.
"""

"""A stack's workloads on this machine: the containers of the preview graph run as local processes, with the
commands, args, environment and mounted spec files the graph gives them, against local services."""

from .pods import GraphPod, expand, free_port, process_env, run_process, wait_for
from .services import FakeKubeApi, LocalS3, LocalTracking
from .workloads import LocalWorkload

__all__ = [
    "FakeKubeApi",
    "GraphPod",
    "LocalS3",
    "LocalTracking",
    "LocalWorkload",
    "expand",
    "free_port",
    "process_env",
    "run_process",
    "wait_for",
]

"""``torch.distributed`` set-up for ``torchrun``: backend choice, process group and rank-0 gating.

``torchrun --nproc-per-node N -m pulumi_mlops.runtime.training --spec spec.json`` starts N
processes; each joins the group (nccl when CUDA is available, gloo otherwise), trains the MLP
under DistributedDataParallel, and only rank 0 logs and registers.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

__all__ = ["DistributedContext", "choose_backend", "distributed_context"]


@dataclass(frozen=True)
class DistributedContext:
    """This process's place in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str = ""

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def choose_backend() -> str:
    """``nccl`` when CUDA is available, else ``gloo``."""
    import torch

    return "nccl" if torch.cuda.is_available() else "gloo"


@contextmanager
def distributed_context(backend: str | None = None) -> Iterator[DistributedContext]:
    """Join the process group when launched by ``torchrun`` (``WORLD_SIZE`` > 1); leave it on exit.

    A group that is already initialized (by the caller) is used as is and left open. A single process that
    has not imported torch gets its context without importing it.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1 and "torch" not in sys.modules:
        yield DistributedContext()
        return
    import torch
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        yield DistributedContext(
            dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")), dist.get_backend()
        )
        return
    if world_size <= 1:
        yield DistributedContext()
        return
    chosen = backend or choose_backend()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if chosen == "nccl":
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend=chosen)
    try:
        yield DistributedContext(dist.get_rank(), dist.get_world_size(), local_rank, chosen)
        dist.barrier()
    finally:
        dist.destroy_process_group()

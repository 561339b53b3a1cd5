"""Which GPU accelerators each cloud offers, and on which instance or machine types."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ACCELERATORS", "Accelerator", "check_accelerator"]


@dataclass(frozen=True)
class Accelerator:
    """One accelerator as a cloud names it, and the instance families that carry it."""

    cloud: str
    name: str
    families: tuple[str, ...]
    gpus_by_type: dict[str, int]
    """GPUs on each known instance or machine type (types not listed are accepted by family)."""


ACCELERATORS: dict[str, dict[str, Accelerator]] = {
    "aws": {
        a.name: a
        for a in (
            Accelerator(
                "aws",
                "nvidia-t4",
                ("g4dn",),
                {"g4dn.xlarge": 1, "g4dn.2xlarge": 1, "g4dn.4xlarge": 1, "g4dn.8xlarge": 1, "g4dn.12xlarge": 4},
            ),
            Accelerator(
                "aws",
                "nvidia-a10g",
                ("g5",),
                {"g5.xlarge": 1, "g5.2xlarge": 1, "g5.4xlarge": 1, "g5.12xlarge": 4, "g5.48xlarge": 8},
            ),
            Accelerator(
                "aws",
                "nvidia-l4",
                ("g6",),
                {"g6.xlarge": 1, "g6.2xlarge": 1, "g6.4xlarge": 1, "g6.12xlarge": 4, "g6.48xlarge": 8},
            ),
            Accelerator("aws", "nvidia-l40s", ("g6e",), {"g6e.xlarge": 1, "g6e.12xlarge": 4, "g6e.48xlarge": 8}),
            Accelerator("aws", "nvidia-a100", ("p4d", "p4de"), {"p4d.24xlarge": 8, "p4de.24xlarge": 8}),
            Accelerator("aws", "nvidia-h100", ("p5",), {"p5.48xlarge": 8, "p5.4xlarge": 1}),
        )
    },
    "gcp": {
        a.name: a
        for a in (
            Accelerator("gcp", "nvidia-tesla-t4", ("n1",), {}),
            Accelerator(
                "gcp",
                "nvidia-l4",
                ("g2",),
                {
                    "g2-standard-4": 1,
                    "g2-standard-8": 1,
                    "g2-standard-12": 1,
                    "g2-standard-16": 1,
                    "g2-standard-24": 2,
                    "g2-standard-32": 1,
                    "g2-standard-48": 4,
                    "g2-standard-96": 8,
                },
            ),
            Accelerator(
                "gcp",
                "nvidia-tesla-a100",
                ("a2",),
                {"a2-highgpu-1g": 1, "a2-highgpu-2g": 2, "a2-highgpu-4g": 4, "a2-highgpu-8g": 8},
            ),
            Accelerator(
                "gcp", "nvidia-a100-80gb", ("a2",), {"a2-ultragpu-1g": 1, "a2-ultragpu-2g": 2, "a2-ultragpu-8g": 8}
            ),
            Accelerator(
                "gcp",
                "nvidia-h100-80gb",
                ("a3",),
                {"a3-highgpu-1g": 1, "a3-highgpu-2g": 2, "a3-highgpu-4g": 4, "a3-highgpu-8g": 8},
            ),
            Accelerator("gcp", "nvidia-h100-mega-80gb", ("a3",), {"a3-megagpu-8g": 8}),
            Accelerator("gcp", "nvidia-h200-141gb", ("a3",), {"a3-ultragpu-8g": 8}),
        )
    },
}


FIXED_GPU_FAMILIES = frozenset({"a2", "a3", "a4", "g2"})
"""GCE accelerator-optimized families: the machine type fixes the GPU model and count (N1 attaches T4s freely)."""


def _family(cloud: str, instance_type: str) -> str:
    return instance_type.split(".")[0] if cloud == "aws" else instance_type.split("-")[0]


def check_accelerator(cloud: str, accelerator: str, instance_type: str, gpus_per_node: int) -> str | None:
    """Return an error message when the combination is impossible on ``cloud``, else ``None``."""
    offered = ACCELERATORS[cloud]
    if accelerator not in offered:
        return f"accelerator {accelerator!r} is not offered on {cloud}: allowed are {', '.join(sorted(offered))}"
    acc = offered[accelerator]
    family = _family(cloud, instance_type)
    if family not in acc.families:
        kind = "instance type" if cloud == "aws" else "machine type"
        wanted = " or ".join(f"{f}{'.' if cloud == 'aws' else '-'}*" for f in acc.families)
        return f"{accelerator} needs a {wanted} {kind}, not {instance_type!r}"
    expected = acc.gpus_by_type.get(instance_type)
    if expected is None and cloud == "gcp" and family in FIXED_GPU_FAMILIES:
        carried = [a.name for a in offered.values() if instance_type in a.gpus_by_type]
        what = f"it carries {carried[0]}" if carried else f"known {accelerator} types: {', '.join(acc.gpus_by_type)}"
        return (
            f"{instance_type} does not carry {accelerator} ({what}): an accelerator-optimized machine type comes "
            "with one GPU model"
        )
    if expected is not None and expected != gpus_per_node:
        return f"{instance_type} carries {expected} GPU(s), but gpus_per_node is {gpus_per_node}"
    return None

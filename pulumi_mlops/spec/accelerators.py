"""Which GPU accelerators each cloud offers, and on which instance or machine types."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ACCELERATORS", "EFA_INSTANCE_TYPES", "GCP_GPU_ZONES", "Accelerator", "check_accelerator", "gpu_zones"]


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
                {
                    "g4dn.xlarge": 1,
                    "g4dn.2xlarge": 1,
                    "g4dn.4xlarge": 1,
                    "g4dn.8xlarge": 1,
                    "g4dn.12xlarge": 4,
                    "g4dn.16xlarge": 1,
                },
            ),
            Accelerator(
                "aws",
                "nvidia-a10g",
                ("g5",),
                {
                    "g5.xlarge": 1,
                    "g5.2xlarge": 1,
                    "g5.4xlarge": 1,
                    "g5.8xlarge": 1,
                    "g5.12xlarge": 4,
                    "g5.16xlarge": 1,
                    "g5.24xlarge": 4,
                    "g5.48xlarge": 8,
                },
            ),
            Accelerator(
                "aws",
                "nvidia-l4",
                ("g6", "gr6"),
                {
                    "g6.xlarge": 1,
                    "g6.2xlarge": 1,
                    "g6.4xlarge": 1,
                    "g6.8xlarge": 1,
                    "g6.12xlarge": 4,
                    "g6.16xlarge": 1,
                    "g6.24xlarge": 4,
                    "g6.48xlarge": 8,
                    "gr6.4xlarge": 1,
                    "gr6.8xlarge": 1,
                },
            ),
            Accelerator(
                "aws",
                "nvidia-l40s",
                ("g6e",),
                {
                    "g6e.xlarge": 1,
                    "g6e.2xlarge": 1,
                    "g6e.4xlarge": 1,
                    "g6e.8xlarge": 1,
                    "g6e.12xlarge": 4,
                    "g6e.16xlarge": 1,
                    "g6e.24xlarge": 4,
                    "g6e.48xlarge": 8,
                },
            ),
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


EFA_INSTANCE_TYPES = frozenset(
    {
        *("g4dn.8xlarge", "g4dn.12xlarge", "g4dn.16xlarge", "g4dn.metal"),
        *("g5.8xlarge", "g5.12xlarge", "g5.16xlarge", "g5.24xlarge", "g5.48xlarge"),
        *("g6.8xlarge", "g6.12xlarge", "g6.16xlarge", "g6.24xlarge", "g6.48xlarge", "gr6.8xlarge"),
        *("g6e.8xlarge", "g6e.12xlarge", "g6e.16xlarge", "g6e.24xlarge", "g6e.48xlarge"),
        *("p4d.24xlarge", "p4de.24xlarge", "p5.4xlarge", "p5.48xlarge"),
    }
)
"""GPU instance types of the families above that attach Elastic Fabric Adapter interfaces (``vpc.amazonaws.com/efa``
in Karpenter's instance-type reference; smaller sizes of these families have none)."""


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


def _zones(**regions: str) -> dict[str, tuple[str, ...]]:
    return {
        region.replace("_", "-"): tuple(f"{region.replace('_', '-')}-{z}" for z in zones)
        for region, zones in regions.items()
    }


GCP_GPU_ZONES: dict[str, dict[str, tuple[str, ...]]] = {
    "nvidia-l4": _zones(
        asia_east1="abc",
        asia_northeast1="abc",
        asia_northeast3="ab",
        asia_south1="abc",
        asia_southeast1="abc",
        europe_west1="bc",
        europe_west2="ab",
        europe_west3="ab",
        europe_west4="abc",
        europe_west6="bc",
        me_central2="ac",
        northamerica_northeast1="b",
        northamerica_northeast2="ab",
        us_central1="abc",
        us_east1="bcd",
        us_east4="ac",
        us_west1="abc",
        us_west4="ac",
    ),
    "nvidia-tesla-a100": _zones(
        asia_northeast1="ac",
        asia_northeast3="ab",
        asia_southeast1="bc",
        europe_west4="ab",
        me_west1="ac",
        us_central1="abcf",
        us_east1="b",
        us_west1="b",
        us_west3="b",
        us_west4="b",
    ),
    "nvidia-a100-80gb": _zones(asia_southeast1="c", europe_west4="a", us_central1="ac", us_east4="c", us_east5="ab"),
    "nvidia-h100-80gb": _zones(
        asia_east1="c",
        asia_northeast1="b",
        asia_south1="c",
        asia_southeast1="bc",
        australia_southeast1="c",
        europe_north1="c",
        europe_west1="bc",
        europe_west3="c",
        europe_west4="bc",
        us_central1="abc",
        us_east4="abc",
        us_east5="a",
        us_west1="ab",
        us_west4="a",
    ),
    "nvidia-h100-mega-80gb": _zones(
        asia_east1="c",
        asia_northeast1="b",
        asia_southeast1="bc",
        australia_southeast1="c",
        europe_north1="c",
        europe_west1="bc",
        europe_west3="c",
        europe_west4="bc",
        us_central1="abc",
        us_east4="abc",
        us_east5="a",
        us_west1="ab",
        us_west4="a",
    ),
    "nvidia-h200-141gb": _zones(
        asia_south1="b",
        asia_south2="c",
        europe_west1="b",
        europe_west4="a",
        us_central1="b",
        us_east4="b",
        us_east5="a",
        us_south1="b",
        us_west1="c",
    ),
}
"""GCP accelerator -> region -> the zones that offer every machine type carrying it (G2 for L4, A2 high and ultra
for the A100s, A3 high, mega and ultra for the H100s and the H200), from the Compute Engine catalog SkyPilot builds
from the machine-types API: skypilot-org/skypilot-catalog ``catalogs/v7/gcp/vms.csv`` (commit 017e2502), rows of
those machine types. ``nvidia-tesla-t4`` attaches to N1 machines in most zones and is not listed: its pools name
their zones (``gpu_pools[].gke.zones``)."""


def gpu_zones(accelerator: str, region: str) -> tuple[str, ...] | None:
    """Zones of ``region`` that offer ``accelerator`` (empty: none); ``None`` when the table does not cover it."""
    table = GCP_GPU_ZONES.get(accelerator)
    if table is None:
        return None
    return table.get(region, ())

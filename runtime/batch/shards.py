"""Splitting a batch run into shards, and combining the shards' manifests into the run's.

Which chunks a shard owns depends only on the input listing, ``chunk_rows`` and the shard count, so every
pod of an Indexed Job, and every retry of one, computes the same split:

- **files**: when the input has more than one file and at least as many files as shards, each shard owns
  whole files, balanced by size (largest first, each to the shard with the fewest bytes so far; ties go to
  the lower index). Chunks never span two files. Chunk numbers and row numbers still count through the
  input in file order, so the shard counts the rows of the files before its own (parquet: the footer; CSV:
  a parse of the first column).
- **chunks**: otherwise (one file, or fewer files than shards) every shard reads the input and owns the
  chunks whose number modulo the shard count is its index; the chunks are those of an unsharded run.

Each shard records its chunks in its own manifest (:func:`~.manifest.shard_manifest_name`). The run is
complete when every shard's manifest is: :func:`finalize_run` then writes the combined ``_manifest.json``,
built from the shards' manifests alone, so two shards finishing at once write identical bytes.
"""

from __future__ import annotations

import heapq
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import pandas as pd
import pyarrow.fs as pafs
from pulumi_mlops.runtime.config import RuntimeSettings
from pydantic import ValidationError

from .chunks import file_rows, iter_file_chunks, iter_owned_chunks
from .manifest import MANIFEST_NAME, SHARDS_DIR, BatchManifest, ShardRecord, shard_manifest_name
from .storage import BatchInputError, atomic_write, read_text

__all__ = [
    "FinalizeResult",
    "ShardPlan",
    "assign_files",
    "finalize_run",
    "read_shard_manifests",
    "shard_chunks",
]


def assign_files(sizes: list[int], shards: int) -> list[int]:
    """The shard of each file: largest first, each to the shard holding the fewest bytes (then the lowest index)."""
    owner = [0] * len(sizes)
    loads = [(0, shard) for shard in range(shards)]
    for position in sorted(range(len(sizes)), key=lambda i: (-sizes[i], i)):
        load, shard = heapq.heappop(loads)
        owner[position] = shard
        heapq.heappush(loads, (load + sizes[position], shard))
    return owner


@dataclass(frozen=True)
class ShardPlan:
    """What one shard of a run reads and scores."""

    location: str
    """The input as given."""
    fs: pafs.FileSystem
    """Filesystem of the input."""
    files: list[str]
    """Every input file, in input order."""
    shard: int = 0
    """This shard's index."""
    shards: int = 1
    """Shards of the run."""
    owners: list[int] = field(default_factory=list)
    """Shard of each file (files mode); empty in chunks mode."""

    @property
    def by_files(self) -> bool:
        return bool(self.owners)

    @classmethod
    def of(cls, location: str, fs: pafs.FileSystem, files: list[str], shard: int, shards: int) -> ShardPlan:
        if not 0 <= shard < shards:
            raise BatchInputError(
                f"shard index {shard} is out of range for {shards} shard(s): pass --shard-index (or set "
                f"JOB_COMPLETION_INDEX) from 0 to {shards - 1}"
            )
        owners: list[int] = []
        if 1 < shards <= len(files):
            owners = assign_files([int(info.size or 0) for info in fs.get_file_info(files)], shards)
        return cls(location, fs, files, shard, shards, owners)

    def describe(self) -> str:
        if self.shards == 1:
            return "the whole input"
        if self.by_files:
            mine = sum(1 for owner in self.owners if owner == self.shard)
            return f"{mine} of {len(self.files)} input files"
        return f"one chunk in {self.shards}, from chunk {self.shard}"


def shard_chunks(
    plan: ShardPlan, chunk_rows: int, settings: RuntimeSettings
) -> Iterator[tuple[int, int, pd.DataFrame]]:
    """``(chunk number, first input row, rows)`` of every chunk the shard owns, in order."""
    if not plan.by_files:
        yield from iter_owned_chunks(plan.location, chunk_rows, settings, lambda i: i % plan.shards == plan.shard)
        return
    last = max((i for i, owner in enumerate(plan.owners) if owner == plan.shard), default=-1)
    index = first_row = 0
    for position, path in enumerate(plan.files[: last + 1]):
        if plan.owners[position] != plan.shard:
            rows = file_rows(plan.fs, path)
            index += -(-rows // chunk_rows)
            first_row += rows
            continue
        for chunk in iter_file_chunks(plan.fs, path, chunk_rows):
            yield index, first_row, chunk
            index += 1
            first_row += len(chunk)


def read_shard_manifests(fs: pafs.FileSystem, folder: str) -> dict[int, BatchManifest]:
    """The per-shard manifests under ``folder`` by shard index (empty for an unsharded run)."""
    directory = f"{folder}/{SHARDS_DIR}"
    if fs.get_file_info(directory).type != pafs.FileType.Directory:
        return {}
    found: dict[int, BatchManifest] = {}
    for info in fs.get_file_info(pafs.FileSelector(directory)):
        name = info.path.rsplit("/", 1)[-1]
        if not (info.is_file and name.startswith("shard-") and name.endswith(".json")):
            continue
        manifest = _read_manifest(fs, info.path)
        if manifest is not None and manifest.shard is not None:
            found[manifest.shard] = manifest
    return found


def _read_manifest(fs: pafs.FileSystem, path: str, attempts: int = 5) -> BatchManifest | None:
    """A manifest another shard may be rewriting right now. Object stores read an object in ranges up to the
    size they saw first, so a read racing a rewrite can come back cut short; it is read again."""
    for attempt in range(attempts):
        try:
            text = read_text(fs, path)
            return None if text is None else BatchManifest.model_validate_json(text)
        except (ValidationError, OSError) as exc:
            if attempt == attempts - 1:
                raise BatchInputError(
                    f"{path} is not a readable batch manifest ({exc}); remove it to rescore"
                ) from None
            time.sleep(0.1 * (attempt + 1))
    return None


@dataclass
class FinalizeResult:
    """What :func:`finalize_run` found."""

    manifest: BatchManifest | None
    """The combined manifest, written; None while a shard is not complete."""
    pending: list[int]
    """Shards not complete yet (never started, or running, or killed and not resumed)."""


def _combine(manifests: Mapping[int, BatchManifest]) -> BatchManifest:
    ordered = [manifests[i] for i in sorted(manifests)]
    first = ordered[0]
    for other in ordered[1:]:
        conflict = first.mismatch(other)
        if conflict is not None:
            name, mine, theirs = conflict
            raise BatchInputError(
                f"shards 0 and {other.shard} of run {first.run_id!r} differ in {name} ({mine!r} and {theirs!r}): "
                "every shard of a run must score the same input with the same model; rerun with a new --run-id"
            )
    owners: dict[int, int] = {}
    chunks = []
    for shard in ordered:
        for chunk in shard.chunks:
            if chunk.index in owners:
                raise BatchInputError(
                    f"chunk {chunk.index} of run {first.run_id!r} is recorded by shards {owners[chunk.index]} and "
                    f"{shard.shard}: the shards were split differently; rerun with a new --run-id"
                )
            owners[chunk.index] = int(shard.shard or 0)
            chunks.append(chunk)
    combined = first.model_copy(
        update={
            "shard": None,
            "started_at": min(m.started_at for m in ordered),
            "finished_at": max(m.finished_at or "" for m in ordered) or None,
            "attempts": max(m.attempts for m in ordered),
            "chunks": [],
            "shard_runs": [
                ShardRecord(
                    index=int(m.shard or 0),
                    manifest=shard_manifest_name(int(m.shard or 0)),
                    chunks=[c.index for c in m.chunks],
                    rows_in=m.rows_in,
                    rows_out=m.rows_out,
                    rows_rejected=m.rows_rejected,
                    attempts=m.attempts,
                    started_at=m.started_at,
                    finished_at=m.finished_at,
                )
                for m in ordered
            ],
        }
    )
    for chunk in sorted(chunks, key=lambda c: c.index):
        combined.record(chunk)
    combined.status = "complete"
    return combined


def finalize_run(fs: pafs.FileSystem, folder: str, shards: int) -> FinalizeResult:
    """Write the combined manifest of a sharded run once every shard's manifest is complete."""
    manifests = read_shard_manifests(fs, folder)
    pending = [i for i in range(shards) if i not in manifests or manifests[i].status != "complete"]
    foreign = sorted(i for i, m in manifests.items() if m.shards != shards)
    if foreign:
        raise BatchInputError(
            f"{folder} holds shard manifests of a run split into {manifests[foreign[0]].shards} shards, not "
            f"{shards}: pass the same shards as that run, or a new --run-id"
        )
    if pending:
        return FinalizeResult(None, pending)
    combined = _combine(manifests)
    path = f"{folder}/{MANIFEST_NAME}"
    payload = combined.model_dump_json(indent=1).encode()
    if read_text(fs, path) != payload.decode():
        # A temporary name of its own: another shard may be writing the same combined manifest right now.
        atomic_write(fs, path, payload, temporary=f"{path}.{uuid.uuid4().hex[:12]}.tmp")
    return FinalizeResult(combined, [])

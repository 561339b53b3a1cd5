"""Reading parquet or CSV input in fixed-size chunks with bounded memory, and the input's digest.

Parquet is scanned with ``pyarrow.dataset`` record batches, CSV with ``pandas.read_csv(chunksize=...)``;
batches are regrouped into chunks of exactly ``chunk_rows`` rows (the last may be shorter), so the
same input and ``chunk_rows`` always give the same chunks, which is what resuming a run relies on. A run
sharded by files chunks each file on its own (:func:`iter_file_chunks`) and counts the rows of the files
before its own (:func:`file_rows`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from pulumi_mlops.runtime.config import RuntimeSettings

from .storage import BatchInputError, file_digest, filesystem_for

__all__ = ["file_rows", "input_digest", "input_files", "iter_chunks", "iter_file_chunks", "iter_owned_chunks"]

_SUFFIXES = (".parquet", ".pq", ".csv")


def input_files(location: str, settings: RuntimeSettings) -> tuple[pafs.FileSystem, list[str]]:
    """The filesystem and sorted parquet/CSV files at ``location`` (a file, a directory or a prefix)."""
    fs, path = filesystem_for(location, settings)
    info = fs.get_file_info(path)
    if info.type == pafs.FileType.NotFound:
        raise BatchInputError(f"--input {location}: no such file or directory")
    if info.type == pafs.FileType.File:
        files = [path]
    else:
        selector = pafs.FileSelector(path, recursive=True)
        files = sorted(i.path for i in fs.get_file_info(selector) if i.is_file and i.path.endswith(_SUFFIXES))
    if not files:
        raise BatchInputError(f"--input {location}: no .parquet or .csv files found")
    kinds = {f.endswith(".csv") for f in files}
    if len(kinds) > 1:
        raise BatchInputError(f"--input {location}: mixes CSV and parquet files; point it at one kind")
    return fs, files


def input_digest(location: str, settings: RuntimeSettings) -> str:
    """sha256 over the file names (relative) and the sha256 of each file's bytes."""
    fs, files = input_files(location, settings)
    digest = hashlib.sha256()
    for name in files:
        digest.update(f"{name.rsplit('/', 1)[-1]}:{file_digest(fs, name)}\n".encode())
    return digest.hexdigest()


def _frames(fs: pafs.FileSystem, files: list[str], chunk_rows: int) -> Iterator[pd.DataFrame]:
    if files[0].endswith(".csv"):
        for name in files:
            with fs.open_input_stream(name) as stream:
                yield from pd.read_csv(stream, chunksize=chunk_rows)
        return
    dataset = ds.dataset(files, filesystem=fs, format="parquet")
    for batch in dataset.to_batches(batch_size=chunk_rows):
        yield batch.to_pandas()


def _regroup(frames: Iterable[pd.DataFrame], chunk_rows: int) -> Iterator[pd.DataFrame]:
    """``frames`` regrouped into chunks of exactly ``chunk_rows`` rows (the last may be shorter)."""
    pending: list[pd.DataFrame] = []
    held = 0
    for frame in frames:
        if frame.empty:
            continue
        pending.append(frame)
        held += len(frame)
        while held >= chunk_rows:
            merged = pending[0] if len(pending) == 1 else pd.concat(pending, ignore_index=True)
            yield merged.iloc[:chunk_rows].reset_index(drop=True)
            rest = merged.iloc[chunk_rows:].reset_index(drop=True)
            pending, held = ([rest] if len(rest) else []), len(rest)
    if held:
        yield (pending[0] if len(pending) == 1 else pd.concat(pending, ignore_index=True)).reset_index(drop=True)


def _check_chunk_rows(chunk_rows: int) -> None:
    if chunk_rows < 1:
        raise BatchInputError(f"--chunk-rows must be at least 1, got {chunk_rows}")


def iter_chunks(location: str, chunk_rows: int, settings: RuntimeSettings) -> Iterator[pd.DataFrame]:
    """DataFrames of ``chunk_rows`` rows each, in input order; at most about two chunks are held at once."""
    _check_chunk_rows(chunk_rows)
    fs, files = input_files(location, settings)
    yield from _regroup(_frames(fs, files, chunk_rows), chunk_rows)


def iter_owned_chunks(
    location: str, chunk_rows: int, settings: RuntimeSettings, owned: Callable[[int], bool]
) -> Iterator[tuple[int, int, pd.DataFrame]]:
    """``(chunk number, first input row, rows)`` of the chunks of :func:`iter_chunks` that ``owned(number)``
    keeps. Parquet is regrouped as Arrow tables, so a chunk another shard owns is sliced but never converted
    to pandas; CSV has to be parsed whole either way."""
    _check_chunk_rows(chunk_rows)
    fs, files = input_files(location, settings)
    first_row = 0
    if files[0].endswith(".csv"):
        for index, chunk in enumerate(_regroup(_frames(fs, files, chunk_rows), chunk_rows)):
            if owned(index):
                yield index, first_row, chunk
            first_row += len(chunk)
        return
    dataset = ds.dataset(files, filesystem=fs, format="parquet")
    pending: list[pa.RecordBatch] = []
    held = index = 0

    def cut(table: pa.Table) -> Iterator[tuple[int, int, pd.DataFrame]]:
        nonlocal index, first_row
        if owned(index):
            # a pandas index stored in the file is not the input's row numbering: drop it, as _regroup does
            yield index, first_row, table.to_pandas().reset_index(drop=True)
        index, first_row = index + 1, first_row + table.num_rows

    for batch in dataset.to_batches(batch_size=chunk_rows):
        if batch.num_rows == 0:
            continue
        pending.append(batch)
        held += batch.num_rows
        while held >= chunk_rows:
            table = pa.Table.from_batches(pending)
            yield from cut(table.slice(0, chunk_rows))
            rest = table.slice(chunk_rows)
            pending, held = rest.to_batches(), rest.num_rows
    if held:
        yield from cut(pa.Table.from_batches(pending))


def iter_file_chunks(fs: pafs.FileSystem, path: str, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """The chunks of one input file on its own (chunks never span two files)."""
    _check_chunk_rows(chunk_rows)
    yield from _regroup(_frames(fs, [path], chunk_rows), chunk_rows)


def file_rows(fs: pafs.FileSystem, path: str) -> int:
    """Rows of one input file: from the parquet footer, or by parsing a CSV file as :func:`iter_chunks` does."""
    if path.endswith(".csv"):
        with fs.open_input_stream(path) as stream:
            return sum(len(frame) for frame in pd.read_csv(stream, chunksize=100_000, usecols=[0]))
    with fs.open_input_file(path) as handle:
        return int(pq.ParquetFile(handle).metadata.num_rows)

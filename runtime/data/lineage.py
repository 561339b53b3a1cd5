"""Dataset lineage: a content digest over canonical parquet bytes plus the row count.

The parquet footer names the writer's version, so digests are stable for one pyarrow release;
compare digests produced by the same runtime image.
"""

from __future__ import annotations

import hashlib
import io

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pulumi_mlops.runtime.config import StrictModel

__all__ = ["DatasetDigest", "dataset_digest"]


class DatasetDigest(StrictModel):
    """What a training run was fitted on."""

    sha256: str
    """sha256 of the frame written as canonical parquet (sorted columns, no index, fixed writer options)."""
    rows: int
    """Row count."""
    columns: list[str]
    """Column names in the order hashed (sorted)."""
    source: str = ""
    """Where the frame was read from."""


def dataset_digest(frame: pd.DataFrame, source: str = "") -> DatasetDigest:
    """Digest ``frame``: equal content (same rows in the same order) gives equal digests."""
    columns = sorted(str(c) for c in frame.columns)
    table = pa.Table.from_pandas(frame[columns], preserve_index=False)
    table = table.replace_schema_metadata(None)
    buffer = io.BytesIO()
    pq.write_table(
        table,
        buffer,
        compression="none",
        use_dictionary=False,
        write_statistics=False,
        store_schema=False,
        row_group_size=max(len(frame), 1),
    )
    return DatasetDigest(
        sha256=hashlib.sha256(buffer.getvalue()).hexdigest(), rows=len(frame), columns=columns, source=source
    )

"""Sharded batch runs: disjoint deterministic shards, one combined manifest, and no row lost or doubled by a kill."""

from __future__ import annotations

import functools
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pulumi_mlops.runtime.batch import (
    MANIFEST_NAME,
    BatchInputError,
    BatchManifest,
    finalize_run,
    run_batch,
    shard_manifest_name,
)
from pulumi_mlops.runtime.batch.chunks import iter_chunks, iter_owned_chunks
from pulumi_mlops.runtime.batch.shards import assign_files
from pulumi_mlops.runtime.config import RuntimeSettings
from pulumi_mlops.runtime.data import generate_churn
from pulumi_mlops.runtime.registry.loading import LoadedModel
from pyarrow import fs as pafs

from .conftest import FEATURES


def scored_rows(folder: Path, manifest: BatchManifest) -> pd.DataFrame:
    """Every scored row the run's manifest lists (what a consumer of the run reads)."""
    parts = [pd.read_parquet(folder / c.part) for c in manifest.chunks if c.part]
    return pd.concat(parts, ignore_index=True)


def test_two_shards_of_one_file_score_what_one_process_scores(
    loaded_model: LoadedModel, score_frame: pd.DataFrame, input_parquet: Path, tmp_path: Path
) -> None:
    out = str(tmp_path / "out")
    whole = run_batch(loaded_model, str(input_parquet), out, run_id="whole", chunk_rows=90)
    first = run_batch(loaded_model, str(input_parquet), out, run_id="split", chunk_rows=90, shard=1, shards=2)
    folder = tmp_path / "out" / "run_id=split"
    assert first.run is None and first.pending == [0] and not first.complete
    assert not (folder / MANIFEST_NAME).exists(), "the run is not complete while a shard is missing"
    assert [c.index for c in first.manifest.chunks] == [1, 3, 5, 7, 9, 11]  # 1000 rows: chunks 0-11, odd ones
    second = run_batch(loaded_model, str(input_parquet), out, run_id="split", chunk_rows=90, shard=0, shards=2)
    assert second.complete and second.run is not None
    combined = BatchManifest.model_validate_json((folder / MANIFEST_NAME).read_text())
    assert combined == second.run and combined.status == "complete" and combined.shards == 2
    assert [s.index for s in combined.shard_runs] == [0, 1]
    assert [s.chunks for s in combined.shard_runs] == [[0, 2, 4, 6, 8, 10], [1, 3, 5, 7, 9, 11]]
    assert [c.index for c in combined.chunks] == list(range(12)) and combined.rows_out == len(score_frame)
    # The chunks of a run in chunks mode are those of the unsharded run, scored alike.
    assert [(c.first_row, c.rows_in) for c in combined.chunks] == [
        (c.first_row, c.rows_in) for c in whole.manifest.chunks
    ]
    rows = scored_rows(folder, combined)
    reference = scored_rows(Path(whole.run_folder), whole.manifest)
    pd.testing.assert_frame_equal(rows.drop(columns="batch_run_id"), reference.drop(columns="batch_run_id"))
    again = run_batch(loaded_model, str(input_parquet), out, run_id="split", chunk_rows=90, shard=1, shards=2)
    assert again.scored_chunks == 0 and again.complete, "a re-run of a complete run scores nothing"


def test_shards_of_many_files_own_whole_files_and_keep_input_row_numbers(
    loaded_model: LoadedModel, tmp_path: Path
) -> None:
    sizes = [100, 250, 50, 300, 300]
    source = tmp_path / "in"
    source.mkdir()
    frames = []
    for i, rows in enumerate(sizes):
        frame = generate_churn(rows, seed=10 + i, id_offset=1_000_000 * (i + 1))
        frame.to_parquet(source / f"part-{i}.parquet", index=False)
        frames.append(frame.assign(file=i))
    everything = pd.concat(frames, ignore_index=True)
    out = str(tmp_path / "out")
    results = [run_batch(loaded_model, str(source), out, run_id="r", chunk_rows=120, shard=s, shards=2) for s in (0, 1)]
    combined = results[1].run
    assert combined is not None and results[0].run is None
    folder = tmp_path / "out" / "run_id=r"
    rows = scored_rows(folder, combined)
    assert sorted(rows["customer_id"]) == sorted(everything["customer_id"]), "every input row exactly once"
    # Row numbers count through the input in file order, whichever shard scored the row.
    position = dict(zip(everything["customer_id"], everything.index, strict=True))
    assert rows["row_number"].tolist() == [position[c] for c in rows["customer_id"]]
    expected = loaded_model.model.predict_proba(everything[FEATURES])[:, 1]
    np.testing.assert_allclose(rows["probability"], expected[rows["row_number"].to_numpy()], atol=1e-12)
    # Each file is scored by one shard, in chunks that never span two files.
    owners = assign_files([(source / f"part-{i}.parquet").stat().st_size for i in range(5)], 2)
    file_of = dict(zip(everything["customer_id"], everything["file"], strict=True))
    for record in combined.shard_runs:
        for index in record.chunks:
            chunk = next(c for c in combined.chunks if c.index == index)
            part = pd.read_parquet(folder / str(chunk.part))
            files = {file_of[c] for c in part["customer_id"]}
            assert len(files) == 1 and owners[files.pop()] == record.index
    assert {o for o in owners} == {0, 1}


def test_files_are_balanced_by_size_deterministically() -> None:
    # Largest first, each to the lighter shard: 40 -> 0, 30 -> 1, 20 -> 1 (30 < 40), 10 -> 0 (40 < 50).
    assert assign_files([10, 40, 30, 20], 2) == [0, 0, 1, 1]
    assert assign_files([5, 5, 5], 3) == [0, 1, 2]
    assert assign_files([7], 1) == [0]


def test_a_run_refuses_shards_that_do_not_belong_to_it(
    loaded_model: LoadedModel, input_parquet: Path, tmp_path: Path
) -> None:
    out = str(tmp_path / "out")
    run_batch(loaded_model, str(input_parquet), out, run_id="r", chunk_rows=100, shard=0, shards=2)
    with pytest.raises(BatchInputError, match=r"chunk_rows=100 \(now 200\)"):
        run_batch(loaded_model, str(input_parquet), out, run_id="r", chunk_rows=200, shard=1, shards=2)
    with pytest.raises(BatchInputError, match=r"shards=2 \(now 1\)"):
        run_batch(loaded_model, str(input_parquet), out, run_id="r", chunk_rows=100)
    with pytest.raises(BatchInputError, match="shard index 2 is out of range for 2 shard"):
        run_batch(loaded_model, str(input_parquet), out, run_id="r", chunk_rows=100, shard=2, shards=2)
    local = pafs.LocalFileSystem()
    folder = str(tmp_path / "out" / "run_id=r")
    pending = finalize_run(local, folder, 2)
    assert pending.manifest is None and pending.pending == [1]
    with pytest.raises(BatchInputError, match="split into 2 shards, not 3"):
        finalize_run(local, folder, 3)
    shard0 = json.loads((tmp_path / "out" / "run_id=r" / shard_manifest_name(0)).read_text())
    assert shard0["status"] == "complete" and shard0["shard"] == 0 and shard0["shards"] == 2


@pytest.mark.integration
def test_shards_finishing_together_on_s3_write_one_complete_run(
    loaded_model: LoadedModel, input_parquet: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3
    from moto.server import ThreadedMotoServer
    from pulumi_mlops.runtime.config import RuntimeSettings

    from pulumi_mlops.local import free_port

    for key, value in {
        "AWS_ACCESS_KEY_ID": "t",
        "AWS_SECRET_ACCESS_KEY": "t",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port())
    server.start()
    try:
        endpoint = "http://{}:{}".format(*server.get_host_and_port())
        s3 = boto3.client("s3", endpoint_url=endpoint)
        s3.create_bucket(Bucket="scores")
        settings = RuntimeSettings(s3_endpoint_url=endpoint)
        with ThreadPoolExecutor(max_workers=2) as pool:  # both shards at once, as two pods
            results = list(
                pool.map(
                    lambda shard: run_batch(
                        loaded_model, str(input_parquet), "s3://scores/out", run_id="night", chunk_rows=100,
                        settings=settings, shard=shard, shards=2,
                    ),
                    (0, 1),
                )
            )  # fmt: skip
        assert any(r.complete for r in results)
        keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="scores", Prefix="out/")["Contents"])
        run = BatchManifest.model_validate_json(
            s3.get_object(Bucket="scores", Key=f"out/run_id=night/{MANIFEST_NAME}")["Body"].read()
        )
        assert run.status == "complete" and run.rows_out == 1000 and [s.index for s in run.shard_runs] == [0, 1]
        assert [k for k in keys if k.endswith(".tmp")] == []
        assert sorted(k for k in keys if "/part-" in k) == sorted(f"out/run_id=night/{c.part}" for c in run.chunks)
    finally:
        server.stop()


@pytest.mark.parametrize("kind", ["parquet", "csv", "parquet-slice", "parquet-filtered"])
def test_owned_chunks_are_the_unsharded_chunks_whatever_the_batches(tmp_path: Path, kind: str) -> None:
    settings = RuntimeSettings(home=str(tmp_path / "home"))
    folder = tmp_path / "input"
    folder.mkdir()
    frame = generate_churn(1234, seed=4)
    # three files of uneven sizes, and parquet row groups that do not line up with the chunks; or one file that
    # keeps pandas' own index (a slice's range, a filter's labels), which is not the input's row numbering
    if kind == "parquet-slice":
        frame.iloc[100:].to_parquet(folder / "part.parquet", row_group_size=77)
    elif kind == "parquet-filtered":
        frame[frame.index % 7 != 3].to_parquet(folder / "part.parquet", row_group_size=77)
    for i, part in enumerate((frame.iloc[:500], frame.iloc[500:533], frame.iloc[533:])):
        if kind == "csv":
            part.to_csv(folder / f"part-{i}.csv", index=False)
        elif kind == "parquet":
            part.to_parquet(folder / f"part-{i}.parquet", index=False, row_group_size=77)
    whole = list(iter_chunks(str(folder), 100, settings))
    rows = sum(len(c) for c in whole)
    assert [len(c) for c in whole] == [100] * (rows // 100) + [rows % 100]
    assert all(list(c.index) == list(range(len(c))) for c in whole)
    for shards in (1, 2, 5):
        for shard in range(shards):
            mine = functools.partial(lambda i, n, k: i % n == k, n=shards, k=shard)
            owned = list(iter_owned_chunks(str(folder), 100, settings, mine))
            assert [index for index, _, _ in owned] == list(range(shard, len(whole), shards))
            for index, first_row, chunk in owned:
                assert first_row == 100 * index
                pd.testing.assert_frame_equal(chunk, whole[index])

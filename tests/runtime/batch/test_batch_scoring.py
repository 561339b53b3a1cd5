"""Chunked scoring equals one-shot scoring; runs resume without duplicates or gaps and re-runs are no-ops."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pulumi_mlops.runtime.batch import MANIFEST_NAME, BatchInputError, run_batch
from pulumi_mlops.runtime.registry.loading import LoadedModel

from .conftest import FEATURES


def _scored(folder: str) -> pd.DataFrame:
    parts = sorted(Path(folder).glob("part-*.parquet"))
    return pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)


def test_chunked_run_equals_one_shot_predictions(
    loaded_model: LoadedModel, score_frame: pd.DataFrame, input_parquet: Path, tmp_path: Path
) -> None:
    result = run_batch(loaded_model, str(input_parquet), str(tmp_path / "out"), run_id="r1", chunk_rows=170)
    out = _scored(result.run_folder)
    expected = loaded_model.model.predict_proba(score_frame[FEATURES])[:, 1]
    assert len(out) == len(score_frame) == result.manifest.rows_out
    assert out["row_number"].tolist() == list(range(len(score_frame)))
    assert out["customer_id"].tolist() == score_frame["customer_id"].tolist()
    np.testing.assert_allclose(out["probability"].to_numpy(), expected, rtol=0, atol=1e-12)
    assert set(out["model_version"]) == {"3"} and set(out["batch_run_id"]) == {"r1"}
    manifest = json.loads((Path(result.run_folder) / MANIFEST_NAME).read_text())
    assert manifest["status"] == "complete"
    assert [c["index"] for c in manifest["chunks"]] == list(range(6))  # 5 x 170 + 150
    assert manifest["rows_in"] == 1000 and manifest["rows_rejected"] == 0
    assert manifest["model_version"] == "3" and manifest["artifact_sha256"] == "f" * 64
    assert len(manifest["input_sha256"]) == 64 and all(len(c["sha256"]) == 64 for c in manifest["chunks"])


def test_csv_input_gives_the_same_scores(loaded_model: LoadedModel, score_frame: pd.DataFrame, tmp_path: Path) -> None:
    csv = tmp_path / "in.csv"
    score_frame.to_csv(csv, index=False)
    result = run_batch(loaded_model, str(csv), str(tmp_path / "out"), chunk_rows=400)
    out = _scored(result.run_folder)
    expected = loaded_model.model.predict_proba(score_frame[FEATURES])[:, 1]
    np.testing.assert_allclose(out["probability"].to_numpy(), expected, atol=1e-9)
    assert result.manifest.run_id.startswith("churn-v3-")


def test_resume_after_failure_has_no_duplicates_or_gaps(
    loaded_model: LoadedModel, score_frame: pd.DataFrame, input_parquet: Path, tmp_path: Path
) -> None:
    def crash_at_3(index: int) -> None:
        if index == 3:
            raise RuntimeError("writer crashed")

    with pytest.raises(RuntimeError, match="writer crashed"):
        run_batch(loaded_model, str(input_parquet), str(tmp_path / "out"), run_id="r", chunk_rows=150,
                  before_commit=crash_at_3)  # fmt: skip
    folder = tmp_path / "out" / "run_id=r"
    partial = json.loads((folder / MANIFEST_NAME).read_text())
    assert partial["status"] == "running" and [c["index"] for c in partial["chunks"]] == [0, 1, 2]
    assert (folder / "part-00003.parquet").exists()  # written but not committed: rewritten on resume

    result = run_batch(loaded_model, str(input_parquet), str(tmp_path / "out"), run_id="r", chunk_rows=150)
    assert (result.skipped_chunks, result.scored_chunks) == (3, 4)
    assert result.manifest.attempts == 2 and result.manifest.status == "complete"
    out = _scored(str(folder))
    assert out["row_number"].tolist() == list(range(len(score_frame)))
    expected = loaded_model.model.predict_proba(score_frame[FEATURES])[:, 1]
    np.testing.assert_allclose(out["probability"].to_numpy(), expected, atol=1e-12)
    assert not list(folder.rglob("*.tmp"))


def test_rerun_of_a_complete_run_is_idempotent(loaded_model: LoadedModel, input_parquet: Path, tmp_path: Path) -> None:
    first = run_batch(loaded_model, str(input_parquet), str(tmp_path / "out"), run_id="same", chunk_rows=400)
    mtimes = {p.name: p.stat().st_mtime_ns for p in Path(first.run_folder).glob("part-*")}
    again = run_batch(loaded_model, str(input_parquet), str(tmp_path / "out"), run_id="same", chunk_rows=400)
    assert again.scored_chunks == 0 and again.skipped_chunks == 3
    assert again.manifest == first.manifest
    assert {p.name: p.stat().st_mtime_ns for p in Path(first.run_folder).glob("part-*")} == mtimes
    with pytest.raises(BatchInputError, match="chunk_rows=400"):
        run_batch(loaded_model, str(input_parquet), str(tmp_path / "out"), run_id="same", chunk_rows=100)


def test_bad_rows_are_rejected_with_reasons_and_good_rows_scored(
    loaded_model: LoadedModel, score_frame: pd.DataFrame, tmp_path: Path
) -> None:
    frame = score_frame.head(200).copy()
    frame["tenure_months"] = frame["tenure_months"].astype(object)
    frame.loc[5, "tenure_months"] = "twelve"
    frame.loc[7, "region"] = None
    frame.loc[9, "plan"] = "platinum"
    frame.loc[11, "plan"] = "gold"
    frame.loc[11, "monthly_charges"] = np.nan
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)
    result = run_batch(loaded_model, str(path), str(tmp_path / "out"), run_id="bad", chunk_rows=64)
    manifest = result.manifest
    assert (manifest.rows_in, manifest.rows_out, manifest.rows_rejected) == (200, 196, 4)
    assert manifest.rejection_reasons == {
        "monthly_charges: null": 1, "plan: unknown category": 2, "region: null": 1, "tenure_months: not a number": 1,
    }  # fmt: skip
    rejected = pd.concat(
        [pd.read_parquet(p) for p in sorted(Path(result.run_folder, "rejected").glob("*.parquet"))], ignore_index=True
    )
    reasons = dict(zip(rejected["row_number"], rejected["reject_reason"], strict=True))
    assert reasons[5] == "tenure_months: not a number ('twelve')"
    assert reasons[9] == "plan: unknown category ('platinum')"
    assert reasons[11] == "monthly_charges: null; plan: unknown category ('gold')"
    out = _scored(result.run_folder)
    assert sorted(set(range(200)) - set(out["row_number"])) == [5, 7, 9, 11]
    good = frame.drop(index=[5, 7, 9, 11])
    good = good.assign(tenure_months=good["tenure_months"].astype(float))
    expected = loaded_model.model.predict_proba(good[FEATURES])[:, 1]
    np.testing.assert_allclose(out["probability"].to_numpy(), expected, atol=1e-9)

    lenient = run_batch(loaded_model, str(path), str(tmp_path / "out"), run_id="lenient", chunk_rows=64,
                        allow_nulls=True, allow_unknown_categories=True)  # fmt: skip
    assert lenient.manifest.rows_rejected == 1


def test_missing_column_fails_the_whole_run(
    loaded_model: LoadedModel, score_frame: pd.DataFrame, tmp_path: Path
) -> None:
    path = tmp_path / "no_plan.parquet"
    score_frame.drop(columns=["plan"]).to_parquet(path)
    with pytest.raises(BatchInputError, match=r"lacks model input column\(s\) plan .*--enrich"):
        run_batch(loaded_model, str(path), str(tmp_path / "out"), run_id="x")
    assert not list((tmp_path / "out").rglob("part-*.parquet"))


def test_enrichment_fills_missing_features_by_entity(
    loaded_model: LoadedModel, score_frame: pd.DataFrame, tmp_path: Path
) -> None:
    table = score_frame.set_index("customer_id")

    class Store:
        calls = 0

        def get_online_features(self, entity_ids: list[int]) -> dict[str, list[object]]:
            Store.calls += 1
            return {"customer_id": list(entity_ids), **{c: table.loc[entity_ids, c].tolist() for c in FEATURES}}

    path = tmp_path / "entities.parquet"
    score_frame[["customer_id", "tenure_months"]].to_parquet(path)
    result = run_batch(loaded_model, str(path), str(tmp_path / "out"), run_id="e", chunk_rows=500, features=Store())
    out = _scored(result.run_folder)
    expected = loaded_model.model.predict_proba(score_frame[FEATURES])[:, 1]
    np.testing.assert_allclose(out["probability"].to_numpy(), expected, atol=1e-12)
    assert Store.calls == 2 and result.manifest.enrich

"""Appends, dedupe, keys, ranking, URIs and outside readers, on real Parquet files."""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pytest

from nas.errors import StoreError
from nas.store import Result, ResultError, ResultKey, ResultStore


def test_missing_store_reads_as_empty_and_append_creates_it(tmp_path: Path, results) -> None:
    store = ResultStore(tmp_path / "a" / "b")
    assert not store.is_present()
    assert len(store) == 0 and store.keys() == set() and store.best() is None
    assert store.read().num_rows == 0
    path = store.append(results(2))
    assert store.is_present() and Path(path).parent == tmp_path / "a" / "b"
    assert Path(path).name.startswith("part-") and path.endswith(".parquet")
    assert path.written == 2 and path.skipped == 0


def test_a_file_is_not_a_store(tmp_path: Path) -> None:
    (tmp_path / "x").write_text("hi")
    with pytest.raises(StoreError, match="is a file, not a directory"):
        ResultStore(tmp_path / "x").read()


def test_dedupe_on_append(store: ResultStore, results, caplog) -> None:
    first = store.append(results(5))
    assert first.written == 5
    with caplog.at_level(logging.INFO, logger="nas.store"):
        again = store.append(results(7))  # 5 known + 2 new
    assert (again.written, again.skipped) == (2, 5)
    assert "Skipped 5 duplicate" in caplog.text
    nothing = store.append(results(7))
    assert nothing == "" and (nothing.written, nothing.skipped) == (0, 7)
    assert len(store) == 7 and len(store.files()) == 2
    with pytest.raises(ResultError, match=r"3 of 3 results are already in"):
        store.append(results(3), on_duplicate="error")
    assert store.append(results(3), on_duplicate="keep").written == 3
    assert len(store) == 10 and len(store.keys()) == 7


def test_duplicates_within_one_batch_are_skipped(store: ResultStore, results) -> None:
    batch = results(3) + results(3)
    out = store.append(batch)
    assert (out.written, out.skipped) == (3, 3)


def test_key_changes_with_seed_recipe_and_fidelity(store: ResultStore, make_result) -> None:
    base = make_result(1)
    variants = [
        base,
        make_result(1, seed=99),
        make_result(1, recipe={"epochs": 200}),
        make_result(1, fidelity=200),
        make_result(1, dataset="cifar100"),
    ]
    assert store.append(variants).written == 5
    assert store.exists(base) and store.exists(base.key)
    key = ("nb201", "arch-00001", "cifar10", {"lr": 0.1, "epochs": 12}, 1, 12, "run-1", None)
    assert store.exists(key)
    assert not store.exists(key[:6])  # a version-1 key is a row without run and candidate
    assert not store.exists(make_result(1, seed=7))
    known = store.keys()
    assert ResultKey("nb201", "arch-00001", "cifar10", base.recipe, 1, 12, "run-1") in known


def test_the_same_evaluation_in_another_run_or_candidate_is_a_new_row(
    store: ResultStore, make_result
) -> None:
    first = store.append([make_result(1), make_result(2)])
    again = store.append([make_result(1, run_id="run-2"), make_result(2, run_id="run-2")])
    twice = store.append([make_result(1, run_id="run-2", candidate_id="000007")])
    assert (first.written, again.written, twice.written) == (2, 2, 1)
    assert len(store) == 5 and store.append([make_result(1)]).skipped == 1


def test_append_table_with_a_subset_of_columns(store: ResultStore) -> None:
    table = pa.table(
        {
            "space": ["nb101", "nb101"],
            "arch": ['{"m": 1}', '{"m": 2}'],
            "arch_id": ["h1", "h2"],
            "dataset": ["cifar10", "cifar10"],
            "status": ["ok", "ok"],
            "test_accuracy": [93.1, 94.2],
            "source": ["nasbench101", "nasbench101"],
        }
    )
    store.append(table)
    back = store.read()
    assert back.column("test_accuracy").to_pylist() == [93.1, 94.2]
    assert back.column("created_at").null_count == 2  # not invented
    assert back.column("engine_version").null_count == 2


def test_best_and_top_rank_only_ok_rows(store: ResultStore, results, make_result) -> None:
    store.append(results(10))
    store.append([make_result(50, status="failed", val_accuracy=99.9)])
    best = store.best("val_accuracy")
    assert best is not None and best.val_accuracy == 89.0 and best.status == "ok"
    cheapest = store.best("params", "min")
    assert cheapest is not None and cheapest.params == 1000
    top = store.top("val_accuracy", k=3, filter="seed == 0")
    assert top.column("val_accuracy").to_pylist() == [89.0, 86.0, 83.0]
    with pytest.raises(ResultError, match="not a number"):
        store.best("space")


def test_read_columns_and_pandas(store: ResultStore, results) -> None:
    store.append(results(4))
    table = store.read(columns=["arch_id", "val_accuracy"])
    assert table.column_names == ["arch_id", "val_accuracy"]
    pandas = pytest.importorskip("pandas")
    frame = store.to_pandas("seed == 1")
    assert isinstance(frame, pandas.DataFrame) and len(frame) == 1


def test_file_uri_and_explicit_filesystem(tmp_path: Path, results) -> None:
    uri_store = ResultStore((tmp_path / "runs").as_uri())
    uri_store.append(results(3))
    local = ResultStore(tmp_path / "runs")
    assert len(local) == 3 and local.exists(results(1)[0])
    sub = pafs.SubTreeFileSystem(str(tmp_path), pafs.LocalFileSystem())
    assert len(ResultStore("runs", filesystem=sub)) == 3


def test_non_local_filesystem_code_path(tmp_path: Path, results) -> None:
    # A SubTreeFileSystem is not a LocalFileSystem, so this runs the object-store path
    # (open_output_stream + move, no fsync, no lock) that S3 and GCS take.
    sub = pafs.SubTreeFileSystem(str(tmp_path), pafs.LocalFileSystem())
    remote = ResultStore("bucket/runs", filesystem=sub)
    remote.append(results(3))
    remote.append(results(4))
    assert len(remote) == 4 and remote.compact().rows == 4
    assert len(ResultStore(tmp_path / "bucket" / "runs")) == 4
    assert [p.name[:5] for p in (tmp_path / "bucket" / "runs").iterdir()] == ["part-"]


def test_duckdb_and_pyarrow_dataset_read_the_directory_as_is(store: ResultStore, results) -> None:
    store.append(results(4))
    store.append(results(3, start=10, status="failed", val_accuracy=None))
    # Leftovers of a crashed writer and a quarantine folder must not be read by anyone.
    (Path(store.path) / ".tmp-deadbeef.inflight").write_bytes(b"half a file")
    (Path(store.path) / "_quarantine").mkdir()
    (rows,) = duckdb.sql(
        f"SELECT count(*), count(val_accuracy), max(len(train_loss_curve)), "
        f"min(created_at), max(params) FROM read_parquet('{store.path}/*.parquet')"
    ).fetchall()
    assert rows[:3] == (7, 4, 3) and rows[4] == 1012
    assert rows[3].year == 2025
    dataset = ds.dataset(store.path, format="parquet")
    assert dataset.count_rows() == 7
    assert dataset.schema.field("fidelity").type == pa.int32()


def test_results_returns_result_objects(store: ResultStore, results) -> None:
    written = results(3)
    store.append(written)
    assert store.results("seed == 1") == [written[1]]
    assert all(isinstance(r, Result) for r in store.results())

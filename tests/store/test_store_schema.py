"""The schema, `Result` and their Arrow conversions."""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nas.errors import NasError
from nas.store import (
    KEY_COLUMNS,
    SCHEMA,
    SCHEMA_VERSION,
    Result,
    ResultError,
    ResultStore,
    conform_table,
    results_from_table,
    results_to_table,
)


def test_schema_has_the_documented_columns_and_types() -> None:
    assert SCHEMA.field("arch").type == pa.string()
    assert SCHEMA.field("seed").type == pa.int64()
    assert SCHEMA.field("fidelity").type == pa.int32()
    assert SCHEMA.field("val_accuracy_curve").type == pa.list_(pa.float64())
    assert SCHEMA.field("created_at").type == pa.timestamp("us", tz="UTC")
    assert set(KEY_COLUMNS) <= set(SCHEMA.names)
    assert SCHEMA.metadata[b"nas.schema_version"] == SCHEMA_VERSION.encode()


def test_round_trip_every_column_type_through_parquet(store: ResultStore, results) -> None:
    written = [
        *results(3),
        Result(
            space="nb201",
            arch={"x": 1},
            arch_id="failed-1",
            dataset="cifar10",
            status="failed",
            error="CUDA out of memory",
            created_at=None,
            engine_version=None,
        ),
    ]
    path = store.append(written)
    assert pq.read_schema(path).metadata[b"nas.schema_version"] == SCHEMA_VERSION.encode()
    table = store.read()
    assert table.schema.equals(SCHEMA)
    back = results_from_table(table)
    assert back == written
    failed = back[-1]
    # Columns the caller did not give are null, never invented.
    assert failed.val_accuracy is None and failed.train_loss_curve is None
    assert failed.params is None and failed.created_at is None and failed.recipe is None
    assert back[0].created_at == datetime(2025, 1, 2, 3, 4, 5, 0, tzinfo=timezone.utc)
    assert back[0].arch_dict() == {"cell": [0, "conv_3x3"], "depth": 0}
    assert back[0].extra_dict() == {"jacov": -3.0, "synflow": 12.5}


def test_nan_and_infinite_metrics_survive(store: ResultStore) -> None:
    r = Result(
        space="s",
        arch={},
        arch_id="a",
        dataset="d",
        status="diverged",
        train_loss_curve=[1.0, math.inf, math.nan],
        val_loss=math.nan,
    )
    store.append([r])
    (back,) = store.results()
    assert back.train_loss_curve is not None
    assert back.train_loss_curve[:2] == (1.0, math.inf) and math.isnan(back.train_loss_curve[2])
    assert back.val_loss is not None and math.isnan(back.val_loss)


def test_json_columns_are_canonical_so_keys_compare(make_result) -> None:
    a = make_result(1, arch={"b": 1, "a": 2}, recipe='{"lr": 0.1, "epochs": 12}')
    b = make_result(1, arch='{"a":2, "b":1}', recipe={"epochs": 12, "lr": 0.1})
    assert a.arch == '{"a":2,"b":1}'
    assert a.key == b.key


def test_created_at_is_normalised_to_utc(make_result) -> None:
    plus2 = timezone(timedelta(hours=2))
    r = make_result(0, created_at=datetime(2025, 1, 1, 12, tzinfo=plus2))
    assert r.created_at == datetime(2025, 1, 1, 10, tzinfo=timezone.utc)
    assert r.created_at.tzinfo is timezone.utc


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"status": "done"}, "status must be one of"),
        ({"space": ""}, "'space' must be a non-empty str"),
        ({"arch": "{not json"}, "must hold JSON"),
        ({"extra": {"f": math.nan}}, "JSON-serialisable"),
        ({"fidelity": 2**40}, "'fidelity' must be an int"),
        ({"seed": 1.5}, "'seed' must be an int"),
    ],
)
def test_bad_result_values_are_clear_errors(make_result, overrides, message) -> None:
    with pytest.raises(ResultError, match=message) as info:
        make_result(0, **overrides)
    assert isinstance(info.value, NasError) and isinstance(info.value, ValueError)


def test_to_row_and_from_row_are_inverse(make_result) -> None:
    r = make_result(7)
    row = r.to_row()
    assert list(row) == SCHEMA.names
    assert json.loads(row["arch"]) == {"cell": [2, "conv_3x3"], "depth": 7}
    assert Result.from_row(row) == r
    with pytest.raises(ResultError, match="Unknown result columns"):
        Result.from_row({**row, "accuracy": 1.0})


def test_a_row_read_back_from_json_is_the_same_result(make_result) -> None:
    # How a Ray trial's result reaches the driver: created_at travels as ISO 8601 text.
    r = make_result(3)
    text = json.dumps(r.to_row(), default=datetime.isoformat)
    assert Result.from_row(json.loads(text)) == r
    with pytest.raises(ResultError, match="'created_at' must be an ISO 8601 time"):
        Result.from_row({**r.to_row(), "created_at": "yesterday"})


def test_results_to_table_fills_nulls_and_keeps_schema() -> None:
    table = results_to_table(
        [Result(space="s", arch={}, arch_id="a", dataset="d", status="pending")]
    )
    assert table.schema.equals(SCHEMA)
    assert table.column("val_accuracy").null_count == 1
    assert table.column("epoch_seconds").null_count == 1
    assert results_to_table([]).num_rows == 0


def test_conform_table_adds_missing_columns_and_rejects_unknown_ones() -> None:
    partial = pa.table(
        {
            "space": ["nb101"],
            "arch": ['{"b": 1, "a": 2}'],
            "arch_id": ["x"],
            "dataset": ["cifar10"],
            "status": ["ok"],
            "val_accuracy": [93],
            "source": ["nasbench101"],
        }
    )
    out = conform_table(partial)
    assert out.schema.equals(SCHEMA)
    assert out.column("arch")[0].as_py() == '{"a":2,"b":1}'
    assert out.column("val_accuracy")[0].as_py() == 93.0
    assert out.column("params").null_count == 1
    with pytest.raises(ResultError, match="Unknown result columns"):
        conform_table(partial.append_column("acc", pa.array([1.0])))
    with pytest.raises(ResultError, match="Required result column 'dataset' is missing"):
        conform_table(partial.drop_columns(["dataset"]))
    with pytest.raises(ResultError, match="Unknown status 'done'"):
        conform_table(partial.set_column(4, "status", pa.array(["done"])))


# The columns of schema version 1 (the landed store format), spelled out as it shipped.
_V1_NEW = ("strategy", "candidate_id", "reused_from", "checkpoint")
_V1_STATUSES = ("ok", "failed", "timeout", "diverged", "pending")


def _v1_schema() -> pa.Schema:
    fields = [f for f in SCHEMA if f.name not in _V1_NEW]
    return pa.schema(fields, metadata={b"nas.schema_version": b"1"})


def test_a_store_written_by_schema_version_1_reads_and_takes_new_rows(tmp_path, results) -> None:
    v1 = _v1_schema()
    rows = [r.to_row() for r in results(3)]
    for i, row in enumerate(rows):
        row["status"] = _V1_STATUSES[i]
    old = pa.Table.from_pylist([{k: row[k] for k in v1.names} for row in rows], schema=v1)
    (tmp_path / "s").mkdir()
    pq.write_table(old, tmp_path / "s" / "part-20260101T000000000000Z-000000000001.parquet")
    store = ResultStore(tmp_path / "s")
    table = store.read()
    assert table.num_rows == 3 and table.schema.equals(SCHEMA)
    assert table.column("candidate_id").null_count == 3  # new columns read as nulls
    back = store.results()
    assert [r.status for r in back] == list(_V1_STATUSES[:3])
    assert [r.arch_id for r in back] == [row["arch_id"] for row in rows]
    # The old rows keep their key; a new run's rows of the same archs are new rows.
    assert store.append(back).skipped == 3
    fresh = [dataclasses.replace(r, run_id="run-9", candidate_id="000001") for r in back]
    assert store.append(fresh).written == 3 and len(store) == 6
    assert SCHEMA_VERSION == "2"

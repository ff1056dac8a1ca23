"""The append fast path: no JSON re-encoding of Results, an incremental key set that still
sees other writers and compactions, and the explicit non-durable mode (off by default)."""

from __future__ import annotations

import os

import pyarrow as pa

from nas.store import ResultStore, results_to_table


def _count_fsyncs(monkeypatch) -> list[int]:
    calls: list[int] = []
    real = os.fsync

    def counting(fd: int) -> None:
        calls.append(fd)
        real(fd)

    monkeypatch.setattr(os, "fsync", counting)
    return calls


def test_durable_append_flushes_the_file_and_the_directory_once_each(
    tmp_path, results, monkeypatch
) -> None:
    store = ResultStore(tmp_path / "runs")
    store.append(results(1))  # creates the directory
    calls = _count_fsyncs(monkeypatch)
    store.append(results(30, start=1))
    assert len(calls) == 2


def test_not_durable_append_skips_fsync_and_reads_back_every_row(
    tmp_path, results, monkeypatch
) -> None:
    calls = _count_fsyncs(monkeypatch)
    store = ResultStore(tmp_path / "runs", durable=False)
    for start in range(0, 50, 10):
        store.append(results(10, start=start))
    assert calls == []
    assert len(ResultStore(tmp_path / "runs")) == 50
    assert not [n for n in os.listdir(tmp_path / "runs") if not n.endswith(".parquet")]


def test_results_are_stored_with_their_canonical_json_as_is(store, results) -> None:
    rows = results(5)
    store.append(rows)
    table = store.read(columns=["arch_id", "arch", "recipe", "extra"])
    by_id = {r.arch_id: r for r in rows}
    for row in table.to_pylist():
        source = by_id[row["arch_id"]]
        assert (row["arch"], row["recipe"], row["extra"]) == (
            source.arch,
            source.recipe,
            source.extra,
        )


def test_a_table_append_is_still_conformed_to_canonical_json(store, results) -> None:
    table = results_to_table(results(1))
    table = table.set_column(
        table.schema.get_field_index("arch"),
        "arch",
        pa.array(['{ "b": 1,  "a": 2 }'], pa.string()),
    )
    store.append(table)
    assert store.read(columns=["arch"]).column("arch").to_pylist() == ['{"a":2,"b":1}']


def test_incremental_keys_see_another_writer_and_dedupe_against_it(tmp_path, results) -> None:
    a, b = ResultStore(tmp_path / "runs"), ResultStore(tmp_path / "runs")
    a.append(results(10))
    b.append(results(10, start=10))
    out = a.append(results(15, start=5))  # 5..9 are a's, 10..19 are b's: 0 new
    assert (out.written, out.skipped) == (0, 15)
    assert a.keys() == b.keys() and len(a.keys()) == 20


def test_keys_after_a_compaction_and_a_repair_match_the_files(tmp_path, results) -> None:
    store = ResultStore(tmp_path / "runs")
    for start in range(0, 30, 10):
        store.append(results(10, start=start))
    assert len(store.keys()) == 30
    ResultStore(tmp_path / "runs").compact()  # another handle merges the three parts
    assert len(store.files()) == 1
    assert store.keys() == ResultStore(tmp_path / "runs").keys()
    assert store.append(results(30)).skipped == 30
    # a file quarantined by repair takes its keys with it
    (tmp_path / "runs" / "part-zzz-broken.parquet").write_bytes(b"not parquet")
    store.repair()
    assert len(store.keys()) == 30
    assert store.append(results(1, start=30)).written == 1

"""Compaction keeps every row exactly once and leaves one readable file."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from nas.store import SCHEMA_VERSION, ResultStore


def test_compact_keeps_every_row_exactly_once(store: ResultStore, results) -> None:
    for start in range(0, 50, 10):
        store.append(results(10, start=start))
    store.append(results(3), on_duplicate="keep")  # deliberate duplicates survive too
    before = store.read().sort_by("arch_id")
    report = store.compact()
    assert len(report.parts) == 6 and report.rows == 53
    assert store.files() == [report.merged_file]
    assert list(Path(store.path).iterdir()) == [Path(str(report.merged_file))]
    after = store.read().sort_by("arch_id")
    assert after.equals(before)
    meta = pq.read_schema(str(report.merged_file)).metadata
    assert meta[b"nas.schema_version"] == SCHEMA_VERSION.encode()
    assert len(store.keys()) == 50


def test_compact_is_a_no_op_below_two_files(store: ResultStore, results) -> None:
    assert store.compact().merged_file is None
    store.append(results(2))
    report = store.compact()
    assert report.merged_file is None and len(store) == 2


def test_appends_after_compaction_still_dedupe(store: ResultStore, results) -> None:
    store.append(results(5))
    store.append(results(5, start=5))
    store.compact()
    out = store.append(results(12))
    assert (out.written, out.skipped) == (2, 10)
    assert len(store) == 12

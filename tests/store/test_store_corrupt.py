"""Corrupt and truncated files: a clear error naming the file, and no good row lost."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest

from nas.errors import StoreError
from nas.store import ResultStore, StoreWarning


def _break(path: str, how: str) -> None:
    data = Path(path).read_bytes()
    if how == "truncated":
        Path(path).write_bytes(data[: len(data) // 2])
    else:  # garbage with a Parquet name, e.g. a half-synced copy from another machine
        Path(path).write_bytes(b"PAR1" + bytes(range(256)) * 4)


@pytest.fixture(params=["truncated", "corrupt"])
def damaged(request, store: ResultStore, results) -> tuple[ResultStore, str]:
    store.append(results(4))
    bad = store.append(results(3, start=100))
    store.append(results(5, start=200))
    _break(bad, request.param)
    return store, bad


def test_read_names_the_bad_file_and_the_fix(damaged) -> None:
    store, bad = damaged
    fresh = ResultStore(store.path)  # `store` cached its keys before the damage
    for read in (fresh.read, fresh.count, lambda: fresh.read("seed == 1"), fresh.keys):
        with pytest.raises(StoreError, match=re.escape(bad)) as info:
            read()
        message = str(info.value)
        assert "\n" not in message
        assert f"nas store repair {store.path}" in message or "repair" in message
        assert isinstance(info.value, OSError)


def test_skip_corrupt_returns_every_other_row(damaged) -> None:
    store, bad = damaged
    with pytest.warns(StoreWarning, match=re.escape(bad)):
        table = store.read(skip_corrupt=True)
    assert table.num_rows == 9
    ids = table.column("arch_id").to_pylist()
    assert len(set(ids)) == 9 and not any(i.startswith("arch-001") for i in ids)


def test_repair_quarantines_only_the_bad_file(damaged) -> None:
    store, bad = damaged
    report = store.repair()
    assert report.quarantined == (str(Path(store.path) / "_quarantine" / Path(bad).name),)
    assert Path(report.quarantined[0]).exists()  # moved, never deleted
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(store) == 9
    assert store.repair().quarantined == ()
    assert store.compact().rows == 9


def test_compact_refuses_a_store_with_a_bad_file(damaged) -> None:
    store, bad = damaged
    with pytest.raises(StoreError, match=re.escape(bad)):
        store.compact()
    assert len(list(Path(store.path).glob("part-*.parquet"))) == 3  # nothing touched
    with pytest.warns(StoreWarning):
        assert store.read(skip_corrupt=True).num_rows == 9


def test_repair_of_a_missing_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        ResultStore(tmp_path / "nope").repair()

"""Atomic appends and compactions under injected crashes, and concurrent writers.

Crashes are real: a child process is SIGKILLed at the commit point. The only fakes are
the faults themselves (the rename or delete step replaced by a kill or a raise).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pyarrow.fs as pafs
import pytest

from nas.store import Result, ResultStore, _io

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")


def _child(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


_KILL_AT_RENAME = """
    import os, signal, sys
    from nas.store import Result, ResultStore, _io
    def die(*_):
        os.kill(os.getpid(), signal.SIGKILL)
    _io.commit_rename = die
    rows = [Result(space="s", arch={"i": i}, arch_id=f"new{i}", dataset="d", status="ok")
            for i in range(50)]
    ResultStore(sys.argv[1]).append(rows)
"""


def _ids(store: ResultStore) -> list[str]:
    return sorted(store.read(columns=["arch_id"]).column("arch_id").to_pylist())


def test_append_killed_between_write_and_rename_loses_and_adds_nothing(
    store: ResultStore, results
) -> None:
    store.append(results(5))
    before = _ids(store)
    child = _child(_KILL_AT_RENAME, store.path)
    assert child.returncode == -signal.SIGKILL, child.stderr
    leftovers = [p for p in Path(store.path).iterdir() if p.name.startswith(".tmp-")]
    assert len(leftovers) == 1 and leftovers[0].stat().st_size > 0  # fully written, never named
    assert _ids(store) == before
    (count,) = duckdb.sql(f"SELECT count(*) FROM read_parquet('{store.path}/*.parquet')").fetchall()
    assert count == (5,)
    # A young leftover may be an append in flight: kept; an old one is removed.
    assert store.cleanup(older_than_minutes=60) == []
    assert store.cleanup(older_than_minutes=0) == [str(leftovers[0])]
    assert _ids(store) == before


def test_append_that_raises_at_rename_keeps_the_store_readable(
    store: ResultStore, results, monkeypatch
) -> None:
    store.append(results(3))

    def fail(src: str, dest: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(_io, "commit_rename", fail)
    with pytest.raises(OSError, match="disk full"):
        store.append(results(3, start=10))
    monkeypatch.undo()
    assert len(store) == 3 and store.count("seed == 0") == 1


def _append_worker(path: str, tag: str, batches: int, size: int) -> None:
    store = ResultStore(path)
    for b in range(batches):
        rows = [
            Result(
                space="s",
                arch={"t": tag, "i": i},
                arch_id=f"{tag}-{b}-{i}",
                dataset="d",
                status="ok",
                val_accuracy=float(i),
            )
            for i in range(size)
        ]
        store.append(rows)


@pytest.mark.slow
def test_two_processes_appending_concurrently_land_every_row_once(tmp_path: Path) -> None:
    path = str(tmp_path / "runs")
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_append_worker, args=(path, t, 15, 7)) for t in ("a", "b")]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
        assert w.exitcode == 0
    ids = _ids(ResultStore(path))
    assert len(ids) == 2 * 15 * 7 and len(set(ids)) == len(ids)
    assert len(list(Path(path).glob("part-*.parquet"))) == 30


@pytest.mark.slow
def test_readers_never_see_a_row_twice_while_compacting_under_appends(tmp_path: Path) -> None:
    path = str(tmp_path / "runs")
    store = ResultStore(path)
    ctx = multiprocessing.get_context("spawn")
    writer = ctx.Process(target=_append_worker, args=(path, "w", 40, 3))
    writer.start()
    seen = 0
    while writer.is_alive() or seen == 0:
        if len(store.files()) > 1:
            store.compact()
        ids = _ids(store)
        assert len(ids) == len(set(ids))  # no duplicates at any instant
        assert len(ids) >= seen  # and no row ever disappears
        seen = len(ids)
    writer.join(120)
    assert writer.exitcode == 0
    store.compact()
    assert len(_ids(store)) == 120 and len(store.files()) == 1


_KILL_IN_COMPACTION = """
    import os, signal, sys
    from nas.store import ResultStore, _io
    stage = sys.argv[2]
    real_rename, real_delete = _io.commit_rename, _io.delete_file
    def die():
        os.kill(os.getpid(), signal.SIGKILL)
    def rename(src, dest):
        if stage == "before-commit" and os.path.basename(src).startswith(".tmp-compact-"):
            die()
        real_rename(src, dest)
    def delete(fs, path):
        if stage == "after-commit":
            die()
        real_delete(fs, path)
    _io.commit_rename, _io.delete_file = rename, delete
    ResultStore(sys.argv[1]).compact()
"""


@pytest.mark.parametrize("stage", ["before-commit", "after-commit"])
def test_compaction_killed_midway_never_loses_or_duplicates_rows(
    store: ResultStore, results, stage: str
) -> None:
    for start in (0, 10, 20):
        store.append(results(4, start=start))
    before = _ids(store)
    child = _child(_KILL_IN_COMPACTION, store.path, stage)
    assert child.returncode == -signal.SIGKILL, child.stderr
    names = sorted(p.name for p in Path(store.path).iterdir())
    if stage == "after-commit":  # merged file + manifest + all parts are on disk
        assert sum(n.startswith("part-") for n in names) == 4
        manifest = json.loads(next(Path(store.path).glob("_compaction-*.json")).read_text())
        assert len(manifest["parts"]) == 3
    assert _ids(store) == before
    assert len(store.keys()) == 12
    report = store.compact()  # finishes or rolls back the crashed one first
    assert report.finished_interrupted == 1
    assert _ids(store) == before
    assert not list(Path(store.path).glob("_compaction-*"))
    store.cleanup(older_than_minutes=0)
    assert sorted(p.name.split("-")[0] for p in Path(store.path).iterdir()) == ["part"]
    (count,) = duckdb.sql(f"SELECT count(*) FROM read_parquet('{store.path}/*.parquet')").fetchall()
    assert count == (12,)


def test_stale_lock_of_a_dead_process_is_taken_over(store: ResultStore, results) -> None:
    store.append(results(2))
    store.append(results(2, start=5))
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    lock = Path(store.path) / "_maintenance.lock"
    lock.write_text(f"{os.uname().nodename} {dead.stdout.strip()} 0")
    assert store.compact().rows == 4
    assert not lock.exists()


class _DirAppearsMidListing:
    """A local filesystem whose first listing loses the race with a writer's ``mkdir``.

    pyarrow lists, fails because the directory is missing, then checks whether it
    exists; a writer creating it in between turns ``allow_not_found`` into an error.
    """

    def __init__(self, root: Path) -> None:
        self._fs = pafs.LocalFileSystem()
        self._root = root
        self.raced = False

    def get_file_info(self, what: object) -> object:
        if isinstance(what, pafs.FileSelector) and not self.raced:
            self.raced = True
            self._root.mkdir()
            (self._root / "part-0.parquet").write_bytes(b"")
            raise FileNotFoundError(f"Cannot list directory '{self._root}'")
        return self._fs.get_file_info(what)


def test_listing_survives_the_directory_appearing_while_it_lists(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    fs = _DirAppearsMidListing(root)
    loc = _io.Location(fs=fs, root=str(root), display=str(root))  # type: ignore[arg-type]
    assert [e.base_name for e in loc.listing()] == ["part-0.parquet"]
    assert fs.raced

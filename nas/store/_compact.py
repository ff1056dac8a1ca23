"""Compaction, crash recovery and the maintenance lock.

Why a manifest, and not "rename the parts away first": a merged file and its parts
cannot change places in one atomic step, so some order must leave a window. Renaming
the parts away first makes rows *vanish* for readers during the window (and after a
crash inside it, until recovery). Writing the merged file first makes rows *appear
twice*, unless readers know what it replaces. So compaction writes a small manifest,
``_compaction-<id>.json`` = ``{"merged": NAME, "parts": [...]}``, *before* the merged
file gets its final name, and every `ResultStore` reader drops the listed parts once
the merged file exists. The steps are:

1. write the merged rows to an in-flight temp file (ignored by every reader), fsync;
2. write the manifest atomically (its name starts with ``_``: readers skip it as data);
3. rename the merged file to its final ``part-*.parquet`` name (the commit point);
4. delete the parts, then the manifest.

A crash before 3 leaves only ignored files: nothing changed. A crash after 3 leaves
the manifest, so `ResultStore` readers still see every row exactly once; the next
`compact`, `repair` or `cleanup` finishes step 4. Readers that know nothing of the
manifest (DuckDB's ``*.parquet`` glob) can see the parts' rows twice only in that
crash-leftover state, or during the milliseconds of step 4, never lose one.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field

import pyarrow.fs as pafs
import pyarrow.parquet as pq

from nas.errors import StoreError
from nas.store._io import TEMP_PREFIX, Location, age_seconds, is_data_file, new_part_name
from nas.store._schema import SCHEMA

__all__ = ["CompactReport", "compact", "finish_interrupted", "live_files", "maintenance_lock"]

MANIFEST_PREFIX = "_compaction-"
LOCK_NAME = "_maintenance.lock"


@dataclass(frozen=True)
class CompactReport:
    """What `ResultStore.compact` did."""

    merged_file: str | None  # None when there was nothing to merge
    parts: tuple[str, ...] = ()
    rows: int = 0
    finished_interrupted: int = 0  # earlier crashed compactions completed first


@dataclass
class _Manifest:
    name: str
    merged: str
    parts: list[str] = field(default_factory=list)


def _manifests(loc: Location, names: set[str]) -> list[_Manifest]:
    found = []
    for name in sorted(names):
        if not (name.startswith(MANIFEST_PREFIX) and name.endswith(".json")):
            continue
        try:
            body = json.loads(loc.read_text(name))
            found.append(_Manifest(name, str(body["merged"]), [str(p) for p in body["parts"]]))
        except (OSError, ValueError, KeyError, TypeError):
            # Manifests are written atomically, so this is a foreign or hand-edited file.
            warnings.warn(
                f"Ignoring unreadable compaction manifest {loc.path(name)!r}.", stacklevel=3
            )
    return found


def live_files(loc: Location, listing: list[pafs.FileInfo]) -> list[str]:
    """The data files a reader should scan: every ``*.parquet`` not replaced by a merge."""
    names = {info.base_name for info in listing}
    superseded: set[str] = set()
    for manifest in _manifests(loc, names):
        if manifest.merged in names:  # the merge committed: its parts are duplicates now
            superseded.update(manifest.parts)
    return sorted(n for n in names if is_data_file(n) and n not in superseded)


def finish_interrupted(loc: Location) -> int:
    """Complete (or roll back) compactions that crashed; returns how many there were."""
    names = {info.base_name for info in loc.listing()}
    manifests = _manifests(loc, names)
    for manifest in manifests:
        if manifest.merged in names:
            for part in manifest.parts:
                loc.delete(part)
        loc.delete(manifest.name)  # no merged file: the merge never committed, nothing to undo
    return len(manifests)


def compact(loc: Location) -> CompactReport:
    """Merge every live data file into one, atomically; see the module docstring."""
    with maintenance_lock(loc):
        finished = finish_interrupted(loc)
        parts = live_files(loc, loc.listing())
        if len(parts) < 2:
            return CompactReport(None, tuple(parts), 0, finished)
        from nas.store._read import read_file  # the reader names a bad file in its error

        merged = new_part_name()
        temp = loc.path(f"{TEMP_PREFIX}compact-{merged}.inflight")
        rows = 0
        try:
            with (
                loc.fs.open_output_stream(temp) as stream,
                pq.ParquetWriter(
                    stream, SCHEMA, compression="zstd", write_page_checksum=True
                ) as writer,
            ):
                for part in parts:
                    table = read_file(loc, part)
                    writer.write_table(table)
                    rows += table.num_rows
            if loc.is_local:
                _fsync_file(temp)
            manifest = {"merged": merged, "parts": parts}
            loc.write_text_atomic(f"{MANIFEST_PREFIX}{merged}.json", json.dumps(manifest))
        except BaseException:
            with contextlib.suppress(OSError):
                loc.fs.delete_file(temp)
            raise
        _commit(loc, temp, loc.path(merged))
        for part in parts:
            loc.delete(part)
        loc.delete(f"{MANIFEST_PREFIX}{merged}.json")
        return CompactReport(loc.path(merged), tuple(parts), rows, finished)


def _commit(loc: Location, temp: str, final: str) -> None:
    if loc.is_local:
        from nas.store import _io

        _io.commit_rename(temp, final)
        _io.fsync_dir(loc.root)
    else:
        loc.fs.move(temp, final)


def _fsync_file(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def clean_leftovers(loc: Location, older_than_seconds: float) -> list[str]:
    """Delete in-flight temp files older than the given age; returns their paths."""
    removed = []
    for info in loc.listing():
        if info.base_name.startswith(TEMP_PREFIX) and age_seconds(info) >= older_than_seconds:
            loc.delete(info.base_name)
            removed.append(info.path)
    return removed


@contextlib.contextmanager
def maintenance_lock(loc: Location) -> Iterator[None]:
    """One compaction or repair at a time (local stores; object stores have no O_EXCL).

    Two concurrent compactions would each merge the same parts, so the second must
    wait its turn. A lock left by a dead process on this host is taken over.
    """
    if not loc.is_local:
        yield
        return
    loc.ensure()
    path = loc.path(LOCK_NAME)
    me = f"{socket.gethostname()} {os.getpid()} {time.time():.0f}"
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if _lock_is_stale(path):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(path)
                continue
            raise StoreError(
                f"Another compaction or repair holds {path!r}; wait for it, or delete the lock "
                f"file if no `nas store` process is running."
            ) from None
        break
    else:  # pragma: no cover - lost a race with a third process twice
        raise StoreError(f"Could not take the lock {path!r}; retry.")
    try:
        os.write(fd, me.encode())
        os.close(fd)
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def _lock_is_stale(path: str) -> bool:
    try:
        with open(path, encoding="utf-8") as handle:
            host, pid, _ = handle.read().split()
    except (OSError, ValueError):
        return False  # being written right now, or not ours: leave it
    if host != socket.gethostname():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, ValueError):
        return False
    return False

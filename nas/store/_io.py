"""File-level primitives of the store: where it lives, atomic writes, listing, moves.

Everything goes through ``pyarrow.fs`` so a local path, a ``file://`` URI and an
``s3://``/``gs://`` URI take the same code path; a local filesystem additionally gets
``fsync`` and ``os.replace`` so a commit survives a power cut, not just a crash.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from nas.errors import StoreError

__all__ = ["Location", "new_part_name", "resolve"]

# Readers (pyarrow.dataset by default, our own listing, DuckDB's `*.parquet` glob) skip
# names starting with "." or "_" or not ending in ".parquet"; every in-flight file uses one.
TEMP_PREFIX = ".tmp-"
TEMP_SUFFIX = ".inflight"
QUARANTINE = "_quarantine"


def new_part_name() -> str:
    """A unique, time-sortable file name for a committed part."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    return f"part-{stamp}-{uuid.uuid4().hex[:12]}.parquet"


def is_data_file(name: str) -> bool:
    return name.endswith(".parquet") and not name.startswith((".", "_"))


@dataclass(frozen=True)
class Location:
    """A directory on some ``pyarrow.fs`` filesystem."""

    fs: pafs.FileSystem
    root: str  # the directory, in the filesystem's own path syntax
    display: str  # what the user gave, for messages

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, pafs.LocalFileSystem)

    def path(self, name: str) -> str:
        return f"{self.root.rstrip('/')}/{name}"

    def exists(self) -> bool:
        return self.fs.get_file_info(self.root).type == pafs.FileType.Directory

    def ensure(self) -> None:
        info = self.fs.get_file_info(self.root)
        if info.type == pafs.FileType.File:
            raise StoreError(
                f"Result store path {self.display!r} is a file, not a directory; "
                f"give the directory that holds the Parquet files."
            )
        if info.type == pafs.FileType.NotFound:
            self.fs.create_dir(self.root, recursive=True)

    def listing(self) -> list[pafs.FileInfo]:
        """Every entry directly in the directory (empty when it does not exist)."""
        info = self.fs.get_file_info(self.root)
        if info.type == pafs.FileType.File:
            raise StoreError(
                f"Result store path {self.display!r} is a file, not a directory; "
                f"give the directory that holds the Parquet files."
            )
        selector = pafs.FileSelector(self.root, recursive=False, allow_not_found=True)
        try:
            entries = self.fs.get_file_info(selector)
        except FileNotFoundError:
            # Another process created the directory between pyarrow's failed listing
            # and its existence check; the directory is there now, so list again.
            entries = self.fs.get_file_info(selector)
        return sorted(
            (e for e in entries if e.type == pafs.FileType.File), key=lambda e: e.base_name
        )

    def write_atomic(self, table: pa.Table, final_name: str, *, durable: bool = True) -> str:
        """Write ``table`` under a name readers ignore, flush it to disk, then rename it.

        A crash before the rename leaves only an ignored temporary file; the rename
        itself is atomic on local filesystems and a whole-object copy on object stores.
        ``durable=False`` skips the two fsyncs (file, then directory): still atomic for
        readers and across a process crash, not across a power cut.
        """
        temp = self.path(f"{TEMP_PREFIX}{uuid.uuid4().hex}{TEMP_SUFFIX}")
        final = self.path(final_name)
        if self.is_local:
            with open(temp, "wb") as handle:
                pq.write_table(table, handle, compression="zstd", write_page_checksum=True)
                if durable:
                    handle.flush()
                    os.fsync(handle.fileno())
            commit_rename(temp, final)
            if durable:
                fsync_dir(self.root)
        else:
            with self.fs.open_output_stream(temp) as stream:
                pq.write_table(table, stream, compression="zstd", write_page_checksum=True)
            self.fs.move(temp, final)
        return final

    def write_text_atomic(self, name: str, text: str) -> str:
        temp = self.path(f"{TEMP_PREFIX}{uuid.uuid4().hex}{TEMP_SUFFIX}")
        final = self.path(name)
        if self.is_local:
            with open(temp, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            commit_rename(temp, final)
            fsync_dir(self.root)
        else:
            with self.fs.open_output_stream(temp) as stream:
                stream.write(text.encode())
            self.fs.move(temp, final)
        return final

    def read_text(self, name: str) -> str:
        with self.fs.open_input_stream(self.path(name)) as stream:
            return stream.read().decode("utf-8")

    def delete(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            delete_file(self.fs, self.path(name))

    def move(self, name: str, dest: str) -> None:
        self.fs.move(self.path(name), self.path(dest))


def commit_rename(src: str, dest: str) -> None:
    """The commit point of every write; a separate function so tests can crash it."""
    os.replace(src, dest)


def delete_file(fs: pafs.FileSystem, path: str) -> None:
    """Delete one file; a separate function so tests can crash compaction mid-way."""
    fs.delete_file(path)


def fsync_dir(path: str) -> None:
    # Makes the rename itself durable; not every platform can open a directory.
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def age_seconds(info: pafs.FileInfo) -> float:
    if info.mtime is None:
        return float("inf")
    return time.time() - info.mtime.timestamp()


def resolve(path_or_uri: str | os.PathLike[str], filesystem: pafs.FileSystem | None) -> Location:
    """Turn a path or URI (and an optional filesystem) into a `Location`."""
    display = os.fspath(path_or_uri)
    if filesystem is not None:
        return Location(filesystem, display.rstrip("/") or "/", display)
    if "://" in display:
        try:
            fs, root = pafs.FileSystem.from_uri(display)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as exc:
            raise StoreError(
                f"Cannot open result store URI {display!r}: {str(exc).splitlines()[0]}. "
                f"Use a local path or a URI pyarrow.fs understands (file://, s3://, gs://)."
            ) from None
        return Location(fs, root.rstrip("/") or "/", display)
    local = str(Path(display).expanduser().resolve())
    return Location(pafs.LocalFileSystem(), local, display)

"""Scanning the store's files, and naming the file when one cannot be read."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from nas.errors import StoreError
from nas.store._compact import live_files
from nas.store._io import Location
from nas.store._schema import SCHEMA

__all__ = ["StoreWarning", "read_file", "read_store"]

# Compaction may delete a part between our listing and our scan; list again this often.
_RETRIES = 4

# Every page the store writes carries a CRC, verified on read: a flipped bit is an error
# naming the file, never a silently different value. Files without checksums still read.
_FORMAT = ds.ParquetFileFormat(
    default_fragment_scan_options=ds.ParquetFragmentScanOptions(page_checksum_verification=True)
)


class StoreWarning(UserWarning):
    """Rows were left out of a read (``skip_corrupt=True``) or a store needs repair."""


def _dataset(loc: Location, names: Sequence[str]) -> ds.Dataset:
    # An explicit schema: older files gain new columns as nulls, and no footer is opened
    # until the scan, so a listing of many files stays cheap.
    return ds.dataset(
        [loc.path(n) for n in names], schema=SCHEMA, format=_FORMAT, filesystem=loc.fs
    )


def unreadable(loc: Location, name: str, exc: BaseException) -> StoreError:
    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return StoreError(
        f"Cannot read result file {loc.path(name)!r} ({reason}). Move it away or run "
        f"`nas store repair {loc.display}` to quarantine it; read(..., skip_corrupt=True) "
        f"reads the other files."
    )


def read_file(
    loc: Location,
    name: str,
    filter: pc.Expression | None = None,
    columns: Sequence[str] | None = None,
) -> pa.Table:
    """Read one file with the store's schema; a bad file is a `StoreError` naming it."""
    try:
        table = _scan(loc, [name], list(columns) if columns is not None else None, filter)
    except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:
        raise unreadable(loc, name, exc) from None
    return table


def read_store(
    loc: Location,
    filter: pc.Expression | None,
    columns: Sequence[str] | None,
    *,
    skip_corrupt: bool,
) -> pa.Table:
    """Read every live file; see `ResultStore.read`."""
    cols = list(columns) if columns is not None else None
    for attempt in range(_RETRIES):
        names = live_files(loc, loc.listing())
        if not names:
            return _empty(cols)
        try:
            return _scan(loc, names, cols, filter)
        except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:
            vanished = [
                n for n in names if loc.fs.get_file_info(loc.path(n)).type == pafs.FileType.NotFound
            ]
            if vanished and attempt < _RETRIES - 1:
                continue  # a compaction replaced them: list again
            return _read_each(loc, names, filter, cols, skip_corrupt, exc)
    raise AssertionError("unreachable")  # pragma: no cover


def _read_each(
    loc: Location,
    names: list[str],
    filter: pc.Expression | None,
    columns: list[str] | None,
    skip_corrupt: bool,
    first_error: BaseException,
) -> pa.Table:
    """Find which files fail, one by one; keep every good file's rows."""
    tables: list[pa.Table] = []
    bad: list[tuple[str, StoreError]] = []
    for name in names:
        try:
            tables.append(read_file(loc, name, filter, columns))
        except StoreError as exc:
            bad.append((name, exc))
    if not bad:  # every file reads alone: the error was not a file's fault
        raise StoreError(
            f"Reading result store {loc.display!r} failed: "
            f"{(str(first_error).splitlines() or [''])[0]}"
        ) from first_error
    if not skip_corrupt:
        raise bad[0][1]
    warnings.warn(
        f"Skipped {len(bad)} unreadable file(s) in {loc.display!r}: "
        f"{', '.join(loc.path(n) for n, _ in bad)}; run `nas store repair {loc.display}` "
        f"to quarantine them.",
        StoreWarning,
        stacklevel=4,
    )
    if not tables:
        return _empty(columns)
    return pa.concat_tables(tables)


def _scan(
    loc: Location, names: Sequence[str], columns: list[str] | None, filter: pc.Expression | None
) -> pa.Table:
    """Read ``names`` through the store's schema, refusing what is not one of its files.

    A file is read through the schema, so a column missing from it reads as nulls: one
    with a column the schema lacks (a foreign file, or a flipped bit in a footer's column
    name, which no page checksum covers) or a null required column is an error. The
    footers are cached by the scan, so the check costs no read.
    """
    dataset = _dataset(loc, names)
    table = dataset.to_table(columns=columns, filter=filter)
    for fragment in dataset.get_fragments():
        unknown = set(fragment.physical_schema.names).difference(SCHEMA.names)
        if unknown:
            raise pa.ArrowInvalid(f"not a result file: unknown column(s) {sorted(unknown)}")
    present = set(table.column_names)
    for field in SCHEMA:
        if not field.nullable and field.name in present and table.column(field.name).null_count:
            raise pa.ArrowInvalid(
                f"not a result file: required column {field.name!r} is missing or null"
            )
    return table


def _empty(columns: list[str] | None) -> pa.Table:
    table = SCHEMA.empty_table()
    return table.select(columns) if columns is not None else table

"""`ResultStore`: a directory of Parquet files that every result lands in."""

from __future__ import annotations

import difflib
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs

from nas.errors import StoreError
from nas.store import _compact
from nas.store._filter import FilterError, parse_filter
from nas.store._io import QUARANTINE, Location, new_part_name, resolve
from nas.store._read import read_file, read_store
from nas.store._result import (
    Result,
    ResultKey,
    canonical_json,
    conform_table,
    results_from_table,
    results_to_table,
)
from nas.store._schema import KEY_COLUMNS, SCHEMA, ResultError

if TYPE_CHECKING:
    import pandas

__all__ = ["AppendResult", "RepairReport", "ResultStore"]

_log = logging.getLogger("nas.store")

_V1_KEY_PARTS = 6

Filter: TypeAlias = "pc.Expression | str | None"
OnDuplicate: TypeAlias = Literal["error", "skip", "keep"]


class AppendResult(str):
    """The path of the file an append wrote ("" when every row was a duplicate).

    It is a ``str`` so ``path = store.append(rows)`` reads naturally, and carries the
    counts: ``written`` rows landed, ``skipped`` were already in the store.
    """

    written: int
    skipped: int

    def __new__(cls, path: str, written: int, skipped: int) -> AppendResult:
        self = super().__new__(cls, path)
        self.written = written
        self.skipped = skipped
        return self


@dataclass(frozen=True)
class RepairReport:
    """What `ResultStore.repair` did."""

    quarantined: tuple[str, ...]  # unreadable files, now under ``_quarantine/``
    removed_leftovers: tuple[str, ...]  # in-flight temp files of crashed writers
    finished_compactions: int


class ResultStore:
    """A directory of Parquet result files on a local path or any ``pyarrow.fs`` URI.

    Every file follows `SCHEMA`, so DuckDB (``read_parquet('DIR/*.parquet')``),
    ``pyarrow.dataset``, pandas and polars read the directory as it is. Appends write a
    new ``part-<time>-<uuid>.parquet`` atomically (temp file, fsync, rename), so readers
    never see half a file and concurrent writers never clash. Rows are keyed by (space,
    arch_id, dataset, recipe, seed, fidelity, run_id, candidate_id), so every evaluation of
    every run is a row; appends skip a key already stored (a retried append) by default.

    Args:
        path_or_uri: A directory path, or a URI such as ``file:///data/runs`` or
            ``s3://bucket/runs``. It is created on the first append.
        filesystem: A ``pyarrow.fs.FileSystem`` to use instead of resolving a URI; the
            path is then taken in that filesystem's syntax.
        durable: Flush each new file and the directory entry to disk before an append
            returns (the default), so a committed append survives a power cut. ``False``
            skips both fsyncs: an append is still atomic for readers and survives a crash
            of the process, but not of the machine; for benchmarks and scratch stores.

    Example:
        >>> import tempfile
        >>> store = ResultStore(tempfile.mkdtemp())
        >>> r = Result(space="nb201", arch={"op": "conv"}, arch_id="a1", dataset="c10",
        ...            status="ok", val_accuracy=91.5)
        >>> store.append([r]).written, len(store), store.exists(r)
        (1, 1, True)
        >>> store.append([r]).skipped
        1
    """

    def __init__(
        self,
        path_or_uri: str | os.PathLike[str],
        filesystem: pafs.FileSystem | None = None,
        *,
        durable: bool = True,
    ) -> None:
        self._loc: Location = resolve(path_or_uri, filesystem)
        self._durable = bool(durable)
        self._key_cache: dict[str, list[ResultKey]] = {}  # parts are immutable once named
        self._known: set[ResultKey] = set()  # the union of the cached files' keys

    def __repr__(self) -> str:
        return f"ResultStore({self._loc.display!r})"

    @property
    def path(self) -> str:
        """The directory, in its filesystem's path syntax."""
        return self._loc.root

    @property
    def filesystem(self) -> pafs.FileSystem:
        return self._loc.fs

    def is_present(self) -> bool:
        """Whether the directory exists (a missing store reads as empty)."""
        return self._loc.exists()

    def files(self) -> list[str]:
        """The paths of the data files a read scans, oldest first."""
        return [self._loc.path(n) for n in _compact.live_files(self._loc, self._loc.listing())]

    # -- writing -------------------------------------------------------------------------

    def append(
        self,
        results: Result | Iterable[Result] | pa.Table,
        *,
        on_duplicate: OnDuplicate = "skip",
    ) -> AppendResult:
        """Append results as one new file, atomically.

        Args:
            results: `Result` objects, or a table with any subset of the schema's
                columns (missing nullable columns become null).
            on_duplicate: What to do with a row whose key is already stored (or repeats
                within ``results``): ``"skip"`` it (logged, and counted in
                ``.skipped``), raise (``"error"``), or ``"keep"`` both.

        Returns:
            The path written, or "" when nothing was, with ``.written``/``.skipped``.
            Dedupe is best-effort across processes: two writers racing on the same new
            key can both land it.

        Example:
            >>> store.append(results).written  # doctest: +SKIP
            12
        """
        if on_duplicate not in ("error", "skip", "keep"):
            raise ResultError(
                f"on_duplicate must be 'error', 'skip' or 'keep' (got {on_duplicate!r})."
            )
        if isinstance(results, Result):
            results = [results]
        if isinstance(results, pa.RecordBatch):
            results = pa.Table.from_batches([results])
        if isinstance(results, pa.Table):
            table = conform_table(results)
            keys = _table_keys(table)
        else:
            # A Result checked its values and holds canonical JSON already: no re-encoding.
            results = list(results)
            table = results_to_table(results)
            keys = [r.key for r in results]
        skipped = 0
        if on_duplicate != "keep":
            stored = self._sync_keys()
            batch: set[ResultKey] = set()
            keep = []
            for key in keys:
                keep.append(key not in stored and key not in batch)
                batch.add(key)
            skipped = keep.count(False)
            if skipped and on_duplicate == "error":
                first = keys[keep.index(False)]
                raise ResultError(
                    f"{skipped} of {len(keys)} results are already in {self._loc.display!r} "
                    f"(first: {tuple(first)}); pass on_duplicate='skip' or 'keep'."
                )
            if skipped:
                table = table.filter(pa.array(keep))
                keys = [k for k, kept in zip(keys, keep) if kept]
                _log.info("Skipped %d duplicate result(s) in %s", skipped, self._loc.display)
        if table.num_rows == 0:
            return AppendResult("", 0, skipped)
        self._loc.ensure()
        name = new_part_name()
        path = self._loc.write_atomic(table, name, durable=self._durable)
        self._key_cache[name] = keys
        self._known.update(keys)
        return AppendResult(path, table.num_rows, skipped)

    # -- reading -------------------------------------------------------------------------

    def read(
        self,
        filter: Filter = None,
        columns: Sequence[str] | None = None,
        *,
        skip_corrupt: bool = False,
    ) -> pa.Table:
        """Read results as an Arrow table with the store's schema.

        Args:
            filter: A ``pyarrow.dataset`` expression (``pc.field("seed") == 0``) or a
                filter string (``"space == 'nb201' and val_accuracy > 90"``; see
                `parse_filter`).
            columns: Columns to read (default: all).
            skip_corrupt: Leave out unreadable files with a `StoreWarning` instead of
                raising a `StoreError` that names the file.

        Example:
            >>> store.read("status == 'ok'", columns=["arch_id", "val_accuracy"])  # doctest: +SKIP
        """
        return read_store(
            self._loc, _expression(filter), _check_columns(columns), skip_corrupt=skip_corrupt
        )

    def results(self, filter: Filter = None, *, skip_corrupt: bool = False) -> list[Result]:
        """Read results as `Result` objects."""
        return results_from_table(self.read(filter, skip_corrupt=skip_corrupt))

    def to_pandas(
        self,
        filter: Filter = None,
        columns: Sequence[str] | None = None,
        *,
        skip_corrupt: bool = False,
    ) -> pandas.DataFrame:
        """`read` as a pandas DataFrame (needs pandas installed)."""
        try:
            import pandas  # noqa: F401  # checked here so the error names the fix
        except ImportError:
            raise StoreError(
                "ResultStore.to_pandas needs pandas; `pip install pandas`, or use read()."
            ) from None
        return self.read(filter, columns, skip_corrupt=skip_corrupt).to_pandas()

    def count(self, filter: Filter = None, *, skip_corrupt: bool = False) -> int:
        """How many rows match ``filter`` (all rows by default)."""
        # The filter may use any column; only one small column is materialised.
        return self.read(filter, ["status"], skip_corrupt=skip_corrupt).num_rows

    def __len__(self) -> int:
        return self.count()

    def top(
        self,
        metric: str = "val_accuracy",
        k: int = 10,
        mode: Literal["max", "min"] = "max",
        *,
        filter: Filter = None,
        columns: Sequence[str] | None = None,
    ) -> pa.Table:
        """The ``k`` best "ok" rows by ``metric`` (rows with a null or NaN metric never rank)."""
        if mode not in ("max", "min"):
            raise ResultError(f"mode must be 'max' or 'min' (got {mode!r}).")
        _check_columns([metric])
        type_ = SCHEMA.field(metric).type
        if not (pa.types.is_floating(type_) or pa.types.is_integer(type_)):
            raise ResultError(f"Cannot rank by {metric!r}: it is a {type_}, not a number.")
        expr = (pc.field("status") == "ok") & pc.field(metric).is_valid()
        if pa.types.is_floating(type_):
            expr = expr & ~pc.field(metric).is_nan()
        user = _expression(filter)
        if user is not None:
            expr = expr & user
        table = self.read(expr)
        table = table.sort_by([(metric, "descending" if mode == "max" else "ascending")])
        table = table.slice(0, k)
        return table.select(_check_columns(columns)) if columns is not None else table

    def best(
        self,
        metric: str = "val_accuracy",
        mode: Literal["max", "min"] = "max",
        *,
        filter: Filter = None,
    ) -> Result | None:
        """The best "ok" result by ``metric``, or None when there is none.

        Example:
            >>> store.best("val_accuracy").arch_id  # doctest: +SKIP
            'a1'
        """
        table = self.top(metric, 1, mode, filter=filter)
        return Result.from_row(table.to_pylist()[0]) if table.num_rows else None

    def keys(self) -> set[ResultKey]:
        """Every stored result key, for a search loop's "already done?" check.

        Each file's keys are read once and cached (files never change once named), so
        calling this after every trial costs one listing and one small read per new file.
        """
        return set(self._sync_keys())

    def exists(self, key: Result | ResultKey | Sequence[Any]) -> bool:
        """Whether a result with this key (or this result's key) is stored."""
        return _as_key(key) in self._sync_keys()

    def _sync_keys(self) -> set[ResultKey]:
        # The key set grows with the files other writers added since the last call; it is
        # rebuilt from the per-file cache only when files went (a compaction merged them).
        names = _compact.live_files(self._loc, self._loc.listing())
        live = set(names)
        gone = [name for name in self._key_cache if name not in live]
        for name in gone:
            del self._key_cache[name]
        if gone:
            self._rebuild_known()
        for name in names:
            if name not in self._key_cache:
                self._key_cache[name] = _table_keys(read_file(self._loc, name, None, KEY_COLUMNS))
                self._known.update(self._key_cache[name])
        return self._known

    def _rebuild_known(self) -> None:
        self._known = set()
        for cached in self._key_cache.values():
            self._known.update(cached)

    # -- maintenance ---------------------------------------------------------------------

    def compact(self) -> _compact.CompactReport:
        """Merge every data file into one, keeping each row exactly once.

        Crash-safe: the merged file is committed with a manifest naming the parts it
        replaces, so readers never lose or double-count a row at any instant (see
        `nas.store._compact` for the full argument); a later `compact`, `repair` or
        `cleanup` completes an interrupted one. One compaction runs at a time.

        Example:
            >>> store.compact().rows  # doctest: +SKIP
            1200
        """
        return _compact.compact(self._loc)

    def cleanup(self, older_than_minutes: float = 60.0) -> list[str]:
        """Remove crashed writers' temp files older than this, and finish crashed compactions.

        Returns the removed temp files. Young temp files may be appends in progress.
        """
        with _compact.maintenance_lock(self._loc):
            _compact.finish_interrupted(self._loc)
            return _compact.clean_leftovers(self._loc, older_than_minutes * 60.0)

    def repair(self, older_than_minutes: float = 60.0) -> RepairReport:
        """Move unreadable data files to ``_quarantine/`` and clean up after crashes.

        Every file is read in full; one that fails is moved (never deleted) so that all
        other rows read again. Readers ignore ``_quarantine/``.
        """
        if not self._loc.exists():
            raise StoreError(
                f"No result store at {self._loc.display!r}: the directory does not exist."
            )
        with _compact.maintenance_lock(self._loc):
            finished = _compact.finish_interrupted(self._loc)
            removed = _compact.clean_leftovers(self._loc, older_than_minutes * 60.0)
            moved = []
            for name in _compact.live_files(self._loc, self._loc.listing()):
                try:
                    read_file(self._loc, name)
                except StoreError:
                    self._loc.fs.create_dir(self._loc.path(QUARANTINE), recursive=True)
                    self._loc.move(name, f"{QUARANTINE}/{name}")
                    moved.append(self._loc.path(f"{QUARANTINE}/{name}"))
                    if self._key_cache.pop(name, None) is not None:
                        self._rebuild_known()
        return RepairReport(tuple(moved), tuple(removed), finished)


def _table_keys(table: pa.Table) -> list[ResultKey]:
    columns = [table.column(name).to_pylist() for name in KEY_COLUMNS]
    return [ResultKey(*values) for values in zip(*columns)]


def _as_key(key: Result | ResultKey | Sequence[Any]) -> ResultKey:
    if isinstance(key, Result):
        return key.key
    if isinstance(key, Mapping):
        key = [key.get(name) for name in KEY_COLUMNS]
    values = list(key)
    if len(values) == _V1_KEY_PARTS:  # a version-1 key: no run, no candidate
        values += [None, None]
    if len(values) != len(KEY_COLUMNS):
        raise ResultError(
            f"A result key has {len(KEY_COLUMNS)} parts ({', '.join(KEY_COLUMNS)}); got {len(values)}."
        )
    recipe = values[3]
    if recipe is not None:
        values[3] = canonical_json(recipe, "recipe")
    return ResultKey(*values)


def _expression(filter: Filter) -> pc.Expression | None:
    if filter is None or isinstance(filter, pc.Expression):
        return filter
    if isinstance(filter, str):
        return parse_filter(filter)
    raise FilterError(
        f"A filter must be a pyarrow expression or a str (got {type(filter).__name__})."
    )


def _check_columns(columns: Sequence[str] | None) -> list[str] | None:
    if columns is None:
        return None
    if isinstance(columns, str):
        columns = [c.strip() for c in columns.split(",") if c.strip()]
    for name in columns:
        if name not in SCHEMA.names:
            close = difflib.get_close_matches(name, SCHEMA.names, n=1)
            hint = (
                f"did you mean {close[0]!r}?"
                if close
                else f"columns are {', '.join(SCHEMA.names)}."
            )
            raise FilterError(f"Unknown result column {name!r}; {hint}")
    return list(columns)

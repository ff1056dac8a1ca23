"""The result store: one Arrow schema for every result, kept as a directory of Parquet files.

Example:
    >>> import tempfile
    >>> from nas.store import Result, ResultStore
    >>> store = ResultStore(tempfile.mkdtemp())
    >>> _ = store.append([Result(space="nb201", arch={"op": "conv"}, arch_id="a1",
    ...                          dataset="cifar10", status="ok", val_accuracy=91.5)])
    >>> store.read("val_accuracy > 90").num_rows
    1
"""

from __future__ import annotations

from nas.store._compact import CompactReport
from nas.store._filter import FilterError, parse_filter
from nas.store._read import StoreWarning
from nas.store._result import (
    Result,
    ResultKey,
    canonical_json,
    conform_table,
    results_from_table,
    results_to_table,
)
from nas.store._schema import KEY_COLUMNS, SCHEMA, SCHEMA_VERSION, STATUSES, ResultError
from nas.store._store import AppendResult, RepairReport, ResultStore

__all__ = [
    "KEY_COLUMNS",
    "SCHEMA",
    "SCHEMA_VERSION",
    "STATUSES",
    "AppendResult",
    "CompactReport",
    "FilterError",
    "RepairReport",
    "Result",
    "ResultError",
    "ResultKey",
    "ResultStore",
    "StoreWarning",
    "canonical_json",
    "conform_table",
    "parse_filter",
    "results_from_table",
    "results_to_table",
]

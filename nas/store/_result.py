"""`Result`, one row of the store, and its conversions to and from Arrow.

Callers fill only what they have: every optional column defaults to null, and nothing
is invented on their behalf except the row's own bookkeeping (``created_at`` is the
time the `Result` was made, ``engine_version`` the running engine, ``source`` "nas").
"""

from __future__ import annotations

import dataclasses
import json
import operator
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, NamedTuple

import pyarrow as pa
import pyarrow.compute as pc

from nas.store._schema import KEY_COLUMNS, SCHEMA, STATUSES, ResultError

__all__ = [
    "Result",
    "ResultKey",
    "canonical_json",
    "conform_table",
    "results_from_table",
    "results_to_table",
]

_JSON_COLUMNS = ("arch", "recipe", "extra", "record")
_CURVE_COLUMNS = ("train_loss_curve", "val_accuracy_curve", "test_accuracy_curve", "epoch_seconds")
_INT32_MAX = 2**31 - 1
_INT64_MAX = 2**63 - 1
_COLUMN_TYPES = [(f.name, f.type) for f in SCHEMA]
_KEY_FIELDS = operator.attrgetter(*KEY_COLUMNS)


def canonical_json(value: Any, column: str = "arch") -> str:
    """Return ``value`` as canonical JSON (sorted keys, no spaces), so equal dicts compare equal.

    A string is taken to be JSON already and is re-encoded canonically.

    Example:
        >>> canonical_json({"b": 1, "a": [1, 2]})
        '{"a":[1,2],"b":1}'
    """
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ResultError(
                f"Column {column!r} must hold JSON (got {value[:60]!r}: {exc.msg}); "
                f"pass a dict or a JSON string."
            ) from None
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ResultError(
            f"Column {column!r} must be JSON-serialisable (got {type(value).__name__}: {exc}); "
            f"use plain dicts, lists, str, int and finite floats."
        ) from None


class ResultKey(NamedTuple):
    """What makes two rows the same row; appends dedupe on it (see `KEY_COLUMNS`)."""

    space: str
    arch_id: str
    dataset: str
    recipe: str | None
    seed: int | None
    fidelity: int | None
    run_id: str | None = None
    candidate_id: str | None = None


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _engine_version() -> str:
    from nas import __version__

    return __version__


@dataclasses.dataclass(frozen=True, kw_only=True)
class Result:
    """One evaluated (or pending, or failed) architecture; one row of the store.

    ``arch``, ``recipe`` and ``extra`` accept a dict or a JSON string and are kept as
    canonical JSON strings; curves accept any sequence of floats and are kept as tuples,
    so a `Result` is hashable and compares by value. Accuracies are in percent.

    Example:
        >>> r = Result(space="nb201", arch={"op": "conv3x3"}, arch_id="a1",
        ...            dataset="cifar10", status="ok", val_accuracy=91.2)
        >>> r.arch
        '{"op":"conv3x3"}'
        >>> Result.from_row(r.to_row()) == r
        True
    """

    space: str
    arch: str | Mapping[str, Any]
    arch_id: str
    dataset: str
    status: str
    space_version: str | None = None
    graph_hash: str | None = None
    recipe: str | Mapping[str, Any] | None = None
    seed: int | None = None
    fidelity: int | None = None
    error: str | None = None
    train_loss_curve: Sequence[float] | None = None
    val_accuracy_curve: Sequence[float] | None = None
    test_accuracy_curve: Sequence[float] | None = None
    epoch_seconds: Sequence[float] | None = None
    val_accuracy: float | None = None
    test_accuracy: float | None = None
    val_loss: float | None = None
    params: int | None = None
    flops: int | None = None
    latency_ms: float | None = None
    train_seconds: float | None = None
    extra: str | Mapping[str, Any] | None = None
    run_id: str | None = None
    trial_id: str | None = None
    strategy: str | None = None
    candidate_id: str | None = None
    reused_from: str | None = None
    checkpoint: str | None = None
    host: str | None = None
    node_id: str | None = None
    record: str | Mapping[str, Any] | None = None
    engine_version: str | None = dataclasses.field(default_factory=_engine_version)
    created_at: datetime | None = dataclasses.field(default_factory=_utcnow)
    source: str = "nas"

    def __post_init__(self) -> None:
        where = f"result {self.space!r}/{self.arch_id!r}"
        for name in ("space", "arch_id", "dataset", "source"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ResultError(f"{where}: {name!r} must be a non-empty str (got {value!r}).")
        if self.status not in STATUSES:
            raise ResultError(
                f"{where}: status must be one of {', '.join(STATUSES)} (got {self.status!r})."
            )
        for name in _JSON_COLUMNS:
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, canonical_json(value, name))
        for name in _CURVE_COLUMNS:
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, tuple(float(v) for v in value))
        for name, limit in (("seed", _INT64_MAX), ("fidelity", _INT32_MAX)):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or abs(value) > limit
            ):
                raise ResultError(
                    f"{where}: {name!r} must be an int within ±{limit} (got {value!r})."
                )
        if self.created_at is not None:
            object.__setattr__(self, "created_at", _as_utc(self.created_at))

    @property
    def key(self) -> ResultKey:
        """The dedupe key: (space, arch_id, dataset, recipe, seed, fidelity, run_id,
        candidate_id)."""
        return ResultKey._make(_KEY_FIELDS(self))

    def arch_dict(self) -> Any:
        """The architecture decoded from its JSON."""
        return json.loads(str(self.arch))

    def recipe_dict(self) -> Any:
        """The training recipe decoded from its JSON (None when not given)."""
        return None if self.recipe is None else json.loads(str(self.recipe))

    def extra_dict(self) -> Any:
        """The extra metrics decoded from their JSON (None when not given)."""
        return None if self.extra is None else json.loads(str(self.extra))

    def to_row(self) -> dict[str, Any]:
        """Return the row as ``{column: value}`` in schema order (curves as lists)."""
        row: dict[str, Any] = {}
        for name in SCHEMA.names:
            value = getattr(self, name)
            row[name] = list(value) if name in _CURVE_COLUMNS and value is not None else value
        return row

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Result:
        """Build a `Result` from a row dict (as `to_row` or ``Table.to_pylist`` give, or the
        JSON of either, whose ``created_at`` is an ISO 8601 string).

        Columns missing from ``row`` are null; an unknown column is an error, since it
        would otherwise be dropped silently.
        """
        unknown = set(row) - set(SCHEMA.names)
        if unknown:
            raise ResultError(
                f"Unknown result columns {sorted(unknown)}; put extra metrics in the 'extra' JSON."
            )
        values: dict[str, Any] = {name: row.get(name) for name in SCHEMA.names}
        if values["source"] is None:
            values["source"] = "nas"
        if isinstance(values["created_at"], str):
            values["created_at"] = _from_iso(values["created_at"])
        return cls(**values)


def _from_iso(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise ResultError(f"'created_at' must be an ISO 8601 time (got {text!r}).") from None


def _as_utc(value: datetime) -> datetime:
    if not isinstance(value, datetime):
        raise ResultError(f"'created_at' must be a datetime (got {type(value).__name__}).")
    if value.tzinfo is None:  # naive times are taken as UTC, as Arrow itself does
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def results_to_table(results: Iterable[Result]) -> pa.Table:
    """Turn results into an Arrow table with exactly `SCHEMA` (schema version in its metadata).

    Example:
        >>> t = results_to_table([Result(space="s", arch={}, arch_id="a", dataset="d",
        ...                              status="pending")])
        >>> t.num_rows, t.schema.field("val_accuracy").type
        (1, DataType(double))
    """
    # Column by column straight from the fields: Arrow takes the curves' tuples as lists.
    fields = [vars(r) for r in results]
    try:
        arrays = [pa.array([f[name] for f in fields], type=t) for name, t in _COLUMN_TYPES]
        return pa.table(arrays, schema=SCHEMA)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
        raise ResultError(f"Results do not fit the store schema: {exc}") from None


def results_from_table(table: pa.Table) -> list[Result]:
    """Turn a table (any subset of the schema's columns) back into `Result` objects."""
    return [Result.from_row(row) for row in table.to_pylist()]


def conform_table(table: pa.Table) -> pa.Table:
    """Cast a caller's table to `SCHEMA`: reorder, add missing columns as nulls, check values.

    An unknown column, a missing required column, a null in a required column, an
    unknown status or non-JSON in ``arch``/``recipe``/``extra`` is a `ResultError`.
    ``arch`` and ``recipe`` are re-encoded as canonical JSON so that dedupe keys compare.
    """
    unknown = [name for name in table.column_names if name not in SCHEMA.names]
    if unknown:
        raise ResultError(
            f"Unknown result columns {unknown}; rename them to schema columns or put them "
            f"in the 'extra' JSON column."
        )
    arrays = []
    for field in SCHEMA:
        if field.name in table.column_names:
            column = table.column(field.name)
            try:
                column = column.cast(field.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
                raise ResultError(
                    f"Column {field.name!r} has type {column.type}, which does not cast to "
                    f"{field.type}: {exc}"
                ) from None
        elif not field.nullable:
            raise ResultError(f"Required result column {field.name!r} is missing.")
        else:
            column = pa.chunked_array([pa.nulls(table.num_rows, field.type)])
        if not field.nullable and column.null_count:
            raise ResultError(
                f"Required result column {field.name!r} has {column.null_count} nulls."
            )
        arrays.append(column)
    out = pa.Table.from_arrays(arrays, schema=SCHEMA)
    bad = pc.invert(pc.is_in(out.column("status"), value_set=pa.array(STATUSES)))
    if table.num_rows and pc.any(bad).as_py():
        first = out.column("status").filter(bad)[0].as_py()
        raise ResultError(f"Unknown status {first!r}; use one of {', '.join(STATUSES)}.")
    for name in _JSON_COLUMNS:
        values = [
            None if v is None else canonical_json(v, name) for v in out.column(name).to_pylist()
        ]
        out = out.set_column(
            out.schema.get_field_index(name), SCHEMA.field(name), pa.array(values, pa.string())
        )
    return out.replace_schema_metadata(SCHEMA.metadata)

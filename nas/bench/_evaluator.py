"""`TabularEvaluator`: answer an arch from a benchmark table instead of training it."""

from __future__ import annotations

import copy
import threading
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from nas.bench._tables import load_table, table_info, table_path
from nas.errors import EvaluationError
from nas.search._driver import METRIC_COLUMNS  # the result columns a strategy can be told

if TYPE_CHECKING:
    from nas.space import Arch
    from nas.store import Result

__all__ = ["TabularEvaluator"]


# One index per (table file, modification time, dataset): built once per process and shared
# by every evaluator on the same table, so a strategy comparison over many seeds pays once.
_INDEXES: dict[tuple[str, float, str | None], dict[str, Any]] = {}
_LOCK = threading.Lock()


def _index(name: str, dataset: str | None) -> dict[str, Any]:
    path = table_path(name)
    table = load_table(name)
    key = (str(path), path.stat().st_mtime, dataset)
    with _LOCK:
        found = _INDEXES.get(key)
    if found is not None:
        return found
    if dataset is not None:
        import pyarrow.compute as pc

        table = table.filter(pc.equal(table["dataset"], dataset))
    from nas.space import Arch, restamp

    index: dict[str, Any] = {}
    for row in table.to_pylist():
        if '"fingerprint"' not in row["arch"]:  # stored before ids carried the space's fingerprint
            arch = restamp(Arch.from_json(row["arch"]))
            row["arch"], row["arch_id"] = arch.to_json(), arch.arch_id
        arch_id = row["arch_id"]
        if arch_id in index:
            datasets = sorted(set(load_table(name).column("dataset").to_pylist()))
            raise EvaluationError(
                f"Table {name!r} holds arch {arch_id} more than once (datasets: "
                f"{', '.join(datasets)}); pass dataset=... to pick one."
            )
        index[arch_id] = row
    with _LOCK:
        _INDEXES[key] = index
    return index


class TabularEvaluator:
    """Answer each arch from a shipped benchmark table: an O(1) lookup by ``arch_id``.

    The returned :class:`~nas.store.Result` carries the benchmark's recorded values:
    ``val_accuracy`` is the search signal the strategy sees and ``test_accuracy`` the
    reported metric; ``train_seconds`` is the table's (null where the source has none).
    An arch missing from the table raises :class:`~nas.errors.EvaluationError`, never a
    silent zero.

    Args:
        table_name: a name from :func:`~nas.bench.list_tables`.
        signal: the value to hand the strategy as ``val_accuracy``: ``"val_accuracy"``
            (the table's validation signal), another numeric column (``"test_accuracy"``
            for an oracle) or a numeric key of ``extra`` (``"test_accuracy_12ep"``,
            ``"synflow"``). Any other signal keeps the recorded value in
            ``extra["recorded_val_accuracy"]``.
        dataset: which dataset's rows to use when the table holds several (``suite-zero``).

    Example:
        >>> import numpy as np
        >>> from nas.space import get_space
        >>> ev = TabularEvaluator("nb201-cifar10")
        >>> arch = get_space("nb201").sample(np.random.default_rng(1))
        >>> r = ev.evaluate(arch, seed=0, trial_id="t1")
        >>> (r.status, r.arch_id == arch.arch_id, r.trial_id)
        ('ok', True, 't1')
    """

    def __init__(
        self, table_name: str, *, signal: str = "val_accuracy", dataset: str | None = None
    ) -> None:
        info = table_info(table_name)
        if dataset is not None and dataset not in info.datasets:
            raise EvaluationError(
                f"Table {table_name!r} has no dataset {dataset!r}; use one of "
                f"{', '.join(info.datasets)}."
            )
        self.table_name = info.name
        self.info = info
        self.signal = signal
        self._rows = _index(info.name, dataset)
        self._results: dict[str, Result] = {}
        self._template: Result | None = None
        first = next(iter(self._rows.values()), None)
        if first is None:
            raise EvaluationError(f"Table {table_name!r} has no rows for dataset {dataset!r}.")
        datasets = {r["dataset"] for r in self._rows.values()} if dataset is None else {dataset}
        self.dataset: str = dataset or ",".join(sorted(datasets))
        self.spaces: tuple[str, ...] = tuple(sorted({r["space"] for r in self._rows.values()}))
        if signal != "val_accuracy" and self._signal_value(first) is None:
            extras = sorted(k for k, v in _extra(first).items() if _is_number(v))
            raise EvaluationError(
                f"Unknown signal {signal!r} for table {table_name!r}; use a numeric column "
                f"({', '.join(METRIC_COLUMNS)}) or an 'extra' key ({', '.join(extras)})."
            )

    def __repr__(self) -> str:
        return (
            f"TabularEvaluator({self.table_name!r}, signal={self.signal!r}, "
            f"dataset={self.dataset!r}, rows={len(self._rows)})"
        )

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, arch: object) -> bool:
        return getattr(arch, "arch_id", arch) in self._rows

    # ------------------------------------------------------------------ lookups
    def lookup(self, arch: Arch | str) -> Result:
        """The table's result for ``arch`` (an :class:`~nas.space.Arch` or an arch_id)."""
        arch_id = arch if isinstance(arch, str) else arch.arch_id
        result = self._results.get(arch_id)
        if result is None:
            row = self._rows.get(arch_id)
            if row is None:
                raise EvaluationError(self._missing(arch))
            result = self._results[arch_id] = self._build(row)
        return result

    def graph_hash(self, arch: Arch) -> str | None:
        """The table's recorded ``graph_hash`` of ``arch`` (the search driver dedupes on it)."""
        row = self._rows.get(arch.arch_id)
        return None if row is None else row.get("graph_hash")

    def evaluate(self, arch: Arch, *, seed: int, trial_id: str | None = None) -> Result:
        """Look ``arch`` up; the result is stamped with ``seed``, ``trial_id`` and the time."""
        base = self.lookup(arch)
        # A shallow copy of an already validated Result: a lookup must stay in microseconds
        # (re-running __post_init__ would re-encode the arch JSON on every query).
        result = copy.copy(base)
        object.__setattr__(result, "seed", seed)
        object.__setattr__(result, "trial_id", trial_id)
        object.__setattr__(result, "created_at", datetime.now(timezone.utc))
        return result

    def optimum(self, metric: str = "test_accuracy", *, direction: str = "max") -> float:
        """The best recorded ``metric`` over the table (for regret)."""
        values = [v for r in self._rows.values() if (v := _value(r, metric)) is not None]
        if not values:
            raise EvaluationError(f"Table {self.table_name!r} records no {metric!r}.")
        return max(values) if direction == "max" else min(values)

    def arch_ids(self) -> list[str]:
        """Every arch_id in the (dataset-filtered) table, in table order."""
        return list(self._rows)

    # ------------------------------------------------------------------ helpers
    def _signal_value(self, row: Mapping[str, Any]) -> float | None:
        return _value(row, self.signal)

    def _build(self, row: Mapping[str, Any]) -> Result:
        from nas.store import Result

        fields = {k: v for k, v in row.items() if k not in ("seed", "trial_id", "created_at")}
        value = self._signal_value(row)
        if value is None:
            raise EvaluationError(
                f"Table {self.table_name!r} records no {self.signal!r} for arch "
                f"{row['arch_id']}; pick another signal."
            )
        if self.signal != "val_accuracy":
            extra = dict(_extra(row))
            extra["signal"] = self.signal
            extra["recorded_val_accuracy"] = row["val_accuracy"]
            fields["extra"] = extra
            fields["val_accuracy"] = float(value)
            return Result(**fields)
        if self._template is None:
            self._template = Result(**fields)  # the first row goes through full validation
            return self._template
        # Later rows come from the same schema-checked Parquet file, already canonical:
        # filling a copy of a validated Result skips re-encoding the arch and extra JSON,
        # which would otherwise dominate a short tabular search (about 60 us per new arch).
        result = copy.copy(self._template)
        for key, value in fields.items():
            object.__setattr__(result, key, value)
        return result

    def _missing(self, arch: Arch | str) -> str:
        if isinstance(arch, str):
            return (
                f"arch_id {arch!r} is not in table {self.table_name!r}; tabular evaluation "
                f"only answers the table's archs."
            )
        return (
            f"Arch {arch.arch_id} of space {arch.space!r} is not in table "
            f"{self.table_name!r} (spaces {', '.join(self.spaces)}, {len(self._rows)} rows); "
            f"search space {self.info.space!r} so every candidate has a recorded result."
        )


def _extra(row: Mapping[str, Any]) -> dict[str, Any]:
    import json

    raw = row.get("extra")
    return json.loads(raw) if raw else {}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _value(row: Mapping[str, Any], metric: str) -> float | None:
    value = row.get(metric) if metric in METRIC_COLUMNS else _extra(row).get(metric)
    return float(value) if _is_number(value) else None  # type: ignore[arg-type]

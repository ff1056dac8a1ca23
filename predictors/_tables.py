"""Labelled benchmark tables for the predictor harness: archs, their IR graphs and one target.

Every table comes from the one catalogue, :mod:`nas.bench` (``nas bench list``: the shipped
tables under ``datasets/`` and a user's own from ``nas bench add``); every row is an arch of
a registered space, compiled on demand.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from nas.graph import Graph
from nas.predictors._errors import PredictorError
from nas.space import Arch, Space

__all__ = ["TABLES", "LabeledTable", "load_labeled"]

#: The shipped tables a predictor can be evaluated on (``nas.bench.list_tables()`` also
#: lists the user's own; ``suite-zero`` holds several spaces and is the proxies' source).
TABLES = (
    "nb201-cifar10",
    "nb201-cifar100",
    "nb-macro",
    "nb101-cifar10",
    "nb301-cifar10",
    "tnb101-micro-object",
    "tnb101-micro-scene",
    "tnb101-macro-object",
    "tnb101-macro-scene",
)


@dataclass
class LabeledTable:
    """Rows of one benchmark table: a target per row and each row's arch and IR graph.

    Attributes:
        name: Table name.
        targets: ``(rows,)`` target values (accuracy in %).
        keys: The rows' arch_ids.
        archs: The rows' :class:`~nas.space.Arch` (all of space ``space``).
        space: The space name.
        signal: Which column the targets come from.
    """

    name: str
    targets: np.ndarray
    keys: list[str]
    archs: list[Arch]
    space: str
    signal: str
    _space: Space = field(repr=False)
    _cache: dict[int, Graph] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.targets)

    def graph(self, i: int) -> Graph:
        """The IR graph of row ``i`` (compiled once, then cached)."""
        g = self._cache.get(i)
        if g is None:
            g = self._cache[i] = self._space.compile(self.archs[int(i)], check=False)
        return g

    def graphs(self, rows: Sequence[int] | np.ndarray) -> list[Graph]:
        """The IR graphs of ``rows`` (row indices: ints or an index array)."""
        return [self.graph(i) for i in rows]


def load_labeled(name: str, *, signal: str = "val_accuracy") -> LabeledTable:
    """Load table ``name`` of :func:`nas.bench.list_tables` with ``signal`` as the target.

    Rows whose status is not ``ok`` or that record no ``signal`` are left out.

    Args:
        name: a table name (``nb201-cifar10``, ``nb101-cifar10``, a user's table).
        signal: ``val_accuracy`` (the table's search signal, see ``nas bench show NAME``)
            or ``test_accuracy`` (its reported metric).

    Example:
        >>> t = load_labeled("nb-macro")
        >>> len(t), t.space
        (6561, 'nb_macro')
    """
    from nas.bench import load_table, table_info
    from nas.errors import NasError
    from nas.space import get_space

    if signal not in ("val_accuracy", "test_accuracy"):
        raise PredictorError(
            f"Unknown signal {signal!r} for predictor tables; use 'val_accuracy' or "
            f"'test_accuracy'."
        )
    try:
        info = table_info(name)
        table = load_table(info.name)
    except NasError as exc:
        raise PredictorError(f"{exc}") from None
    if len(info.spaces) != 1:
        raise PredictorError(
            f"Table {info.name!r} holds several spaces ({info.space}); a predictor table "
            f"needs one (pick one of {', '.join(TABLES)})."
        )
    rows = table.select(["arch", "status", signal]).to_pydict()
    ok = [
        i
        for i, (s, v) in enumerate(zip(rows["status"], rows[signal]))
        if s == "ok" and v is not None
    ]
    if not ok:
        raise PredictorError(
            f"Table {info.name!r} records no {signal!r}; use "
            f"{'val_accuracy' if signal == 'test_accuracy' else 'test_accuracy'}."
        )
    archs = [Arch.from_json(rows["arch"][i]) for i in ok]
    return LabeledTable(
        info.name,
        np.asarray([rows[signal][i] for i in ok], dtype=np.float64),
        [a.arch_id for a in archs],
        archs,
        info.spaces[0],
        signal,
        _space=get_space(info.spaces[0]),
    )

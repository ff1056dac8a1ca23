"""Labelled benchmark tables for the predictor harness: archs, their IR graphs and one target.

Every table comes from the one catalogue, :mod:`nas.bench` (``nas bench list``: the shipped
tables under ``datasets/`` and a user's own from ``nas bench add``); every row is an arch of
a registered space, compiled on demand.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from nas.graph import Graph
from nas.predictors._errors import PredictorError
from nas.space import Arch, get_space

__all__ = ["LabeledTable", "load_labeled"]


@dataclass
class LabeledTable:
    """Rows of one benchmark table: a target per row and each row's arch and IR graph.

    Attributes:
        name: Table name.
        targets: ``(rows,)`` target values (accuracy in %).
        archs: The rows' :class:`~nas.space.Arch` (all of space ``space``).
        space: The space name (a registered space).
        signal: Which column the targets come from.
    """

    name: str
    targets: np.ndarray
    archs: list[Arch]
    space: str
    signal: str
    _graphs: dict[int, Graph] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.targets)

    @functools.cached_property
    def keys(self) -> list[str]:
        """The rows' arch_ids."""
        return [a.arch_id for a in self.archs]

    def graph(self, i: int) -> Graph:
        """The IR graph of row ``i`` (compiled once, then cached)."""
        g = self._graphs.get(i)
        if g is None:
            g = self._graphs[i] = get_space(self.space).compile(self.archs[int(i)], check=False)
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
    import pyarrow.compute as pc

    from nas.bench import list_tables, load_table, table_info
    from nas.errors import NasError

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
        single = [n for n in list_tables() if len(table_info(n).spaces) == 1]
        raise PredictorError(
            f"Table {info.name!r} holds several spaces ({info.space}); a predictor table "
            f"needs one (pick one of {', '.join(single)})."
        )
    ok = (pc.field("status") == "ok") & pc.field(signal).is_valid()
    rows = table.filter(ok).select(["arch", signal]).to_pydict()
    if not rows["arch"]:
        raise PredictorError(
            f"Table {info.name!r} records no {signal!r}; use "
            f"{'val_accuracy' if signal == 'test_accuracy' else 'test_accuracy'}."
        )
    archs = [Arch.from_json(text) for text in rows["arch"]]
    get_space(info.spaces[0])  # a table of an unknown space fails here, not at its first graph
    targets = np.asarray(rows[signal], dtype=np.float64)
    return LabeledTable(info.name, targets, archs, info.spaces[0], signal)

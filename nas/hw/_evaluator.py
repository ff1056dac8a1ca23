"""`LatencyEvaluator`: any evaluator's results, plus the arch's latency on chosen devices."""

from __future__ import annotations

import dataclasses
import difflib
import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from nas.errors import EvaluationError, RegistryError
from nas.hw._tables import LatencyTable, latency_table

if TYPE_CHECKING:
    from nas.search import Evaluator
    from nas.space import Arch
    from nas.store import Result

__all__ = ["LatencyEvaluator", "latency_metric", "with_latency"]


def latency_metric(device: str) -> str:
    """The metric name a device's latency is reported under: ``latency_<device>`` (ms)."""
    return f"latency_{device}"


class LatencyEvaluator:
    """Wrap ``base`` so every ok result also carries ``latency_<device>`` (ms) for ``devices``.

    The latencies go into the result's ``extra`` (which strategies see as metrics, so
    ``Objective("latency_pixel3", "min")`` works) and the first device's into ``latency_ms``.
    ``graph_hash``, ``estimate_cost``, ``optimum`` and the rest come from ``base``.

    Args:
        base: any evaluator (a :class:`~nas.bench.TabularEvaluator`, training, a function).
        table: a latency table name (see :func:`~nas.hw.list_latency_tables`) or the table.
        devices: device settings of that table (``pixel3``, ``raspi4``, ``titan_rtx_256``).

    Example:
        >>> import numpy as np
        >>> from nas.bench import TabularEvaluator
        >>> from nas.space import get_space
        >>> ev = LatencyEvaluator(TabularEvaluator("nb201-cifar10"), "help-nb201", ["pixel3"])
        >>> r = ev.evaluate(get_space("nb201").sample(np.random.default_rng(0)), seed=0)
        >>> r.latency_ms == r.extra_dict()["latency_pixel3"] > 0
        True
    """

    def __init__(self, base: Evaluator, table: str | LatencyTable, devices: Sequence[str]) -> None:
        self.base = base
        self.table = latency_table(table) if isinstance(table, str) else table
        if isinstance(devices, str) or not devices:
            raise EvaluationError(
                f"LatencyEvaluator needs a list of devices of {self.table.name!r} (got "
                f"{devices!r}); pick from {', '.join(self.table.devices)}."
            )
        self.devices = tuple(self.table.check_device(d) for d in devices)
        self.dataset = base.dataset

    def __repr__(self) -> str:
        return f"LatencyEvaluator({self.base!r}, {self.table.name!r}, {list(self.devices)})"

    def __getattr__(self, name: str) -> Any:  # graph_hash, estimate_cost, optimum, spaces, ...
        if name == "base":
            raise AttributeError(name)
        return getattr(self.base, name)

    def latencies(self, arch: Arch) -> dict[str, float]:
        """``{latency_<device>: ms}`` of ``arch`` for every device of this evaluator."""
        return {latency_metric(d): self.table.latency(arch, d) for d in self.devices}

    def evaluate(self, arch: Arch, *, seed: int, trial_id: str | None = None) -> Result:
        """``base``'s result with the latencies added (failed results are passed on as they are)."""
        result = self.base.evaluate(arch, seed=seed, trial_id=trial_id)
        if result.status != "ok":
            return result
        latencies = self.latencies(arch)
        extra = {**(json.loads(str(result.extra)) if result.extra else {}), **latencies}
        first = latencies[latency_metric(self.devices[0])]
        return dataclasses.replace(result, extra=extra, latency_ms=first)


def with_latency(evaluator: Evaluator, metrics: Iterable[str], space: str) -> Evaluator:
    """``evaluator``, wrapped in a :class:`LatencyEvaluator` when ``metrics`` (objective or
    constraint names) ask for ``latency_<device>`` of a latency table covering ``space``.

    The hook for a command line: ``--objectives val_accuracy:max,latency_pixel3:min`` on a
    ``nb201`` search gets ``help-nb201``'s Pixel 3 latency. ``latency_ms`` (the result
    column) is left alone.

    Example:
        >>> from nas.bench import TabularEvaluator
        >>> ev = with_latency(TabularEvaluator("nb201-cifar10"), ["latency_raspi4"], "nb201")
        >>> ev.table.name, ev.devices
        ('help-nb201', ('raspi4',))

    Raises:
        RegistryError: If a ``latency_<device>`` metric names no device of those tables.
    """
    from nas.hw._tables import latency_table_info, list_latency_tables

    wanted = [m.removeprefix("latency_") for m in metrics if m.startswith("latency_")]
    wanted = [d for d in dict.fromkeys(wanted) if d != "ms"]
    if not wanted:
        return evaluator
    tables = [n for n in list_latency_tables() if space in latency_table_info(n).spaces]
    for name in tables:
        table = latency_table(name)
        if all(d in table.devices for d in wanted):
            return LatencyEvaluator(evaluator, table, wanted)
    devices = sorted({d for n in tables for d in latency_table(n).devices})
    close = difflib.get_close_matches(wanted[0], devices, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(repr(f'latency_{c}') for c in close)}?" if close else ""
    raise RegistryError(
        f"No latency table of space {space!r} has device(s) {', '.join(wanted)}{hint} "
        f"(tables: {', '.join(tables) or 'none'}; devices: {', '.join(devices) or 'none'})."
    )

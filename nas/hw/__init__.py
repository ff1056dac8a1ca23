"""Hardware-aware search: latency tables as objectives, a few-shot latency predictor, hypervolume.

Shipped latency tables (``datasets/help-nb201``, ``help-fbnet``, ``hat-latency``, a card beside
each) record what an architecture costs on real devices. :class:`LatencyEvaluator` wraps any
evaluator and adds ``latency_<device>`` (ms) to each result, so a search minimises latency with
accuracy (``Objective("latency_pixel3", "min")``); :class:`LatencyPredictor` estimates latency on
a device from a few measured archs (HELP's setting: 10) where no table exists; :func:`hypervolume`
scores a Pareto front.

Example:
    >>> from nas.hw import latency_table, list_latency_tables
    >>> list_latency_tables()
    ['hat-latency', 'help-fbnet', 'help-nb201']
    >>> len(latency_table("help-nb201").devices)
    27
"""

from __future__ import annotations

from nas.hw._convert import build_latency_table, import_latency_table
from nas.hw._tables import (
    LatencyTable,
    LatencyTableInfo,
    hat_features,
    latency_table,
    latency_table_info,
    list_latency_tables,
)

__all__ = [
    "LatencyTable",
    "LatencyTableInfo",
    "build_latency_table",
    "hat_features",
    "import_latency_table",
    "latency_table",
    "latency_table_info",
    "list_latency_tables",
]

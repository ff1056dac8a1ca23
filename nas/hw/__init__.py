"""Hardware-aware search: latency tables as objectives, a few-shot latency predictor, hypervolume.

Shipped latency tables (``datasets/help-nb201``, ``help-fbnet``, ``hat-latency``, a card beside
each) record what an architecture costs on real devices. :class:`LatencyEvaluator` wraps any
evaluator and adds ``latency_<device>`` (ms) to each result, so a search minimises latency with
accuracy (``Objective("latency_pixel3", "min")``); :class:`LatencyPredictor` estimates latency on
a device from a few measured archs (HELP's setting: 10) where no table exists, starting from a
:class:`DevicePrior` learnt on other devices; :func:`hypervolume`
scores a Pareto front.

Example:
    >>> from nas.hw import latency_table, list_latency_tables
    >>> list_latency_tables()
    ['hat-latency', 'help-fbnet', 'help-nb201']
    >>> len(latency_table("help-nb201").devices)
    27
"""

from __future__ import annotations

from nas.hw._compare import ParetoComparison, compare_pareto
from nas.hw._convert import build_latency_table, import_latency_table
from nas.hw._evaluator import LatencyEvaluator, latency_metric, with_latency
from nas.hw._hypervolume import hypervolume
from nas.hw._predictor import (
    DevicePrior,
    LatencyPredictor,
    device_prior,
    few_shot_correlation,
    graph_features,
)
from nas.hw._tables import (
    LatencyTable,
    LatencyTableInfo,
    hat_features,
    latency_table,
    latency_table_info,
    latency_table_path,
    list_latency_tables,
)

__all__ = [
    "DevicePrior",
    "LatencyEvaluator",
    "LatencyPredictor",
    "LatencyTable",
    "LatencyTableInfo",
    "ParetoComparison",
    "build_latency_table",
    "compare_pareto",
    "device_prior",
    "few_shot_correlation",
    "graph_features",
    "hat_features",
    "hypervolume",
    "import_latency_table",
    "latency_metric",
    "latency_table",
    "latency_table_info",
    "latency_table_path",
    "list_latency_tables",
    "with_latency",
]

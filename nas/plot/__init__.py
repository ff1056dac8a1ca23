"""Figures of searches, benchmarks and predictors, written as PNG without pyplot.

Every figure is a ``matplotlib.figure.Figure`` drawn on its own ``FigureCanvasAgg``, so
making one never changes the caller's matplotlib backend (a notebook keeps its own) and
needs no display. ``nas plot KIND SOURCE --out PNG`` draws them from the command line.
The names load on first use (numpy and matplotlib are not imported by ``import nas.plot``).
"""

from __future__ import annotations

import importlib
from typing import Any

from nas.plot._kinds import KINDS

__all__ = [
    "KINDS",
    "PlotError",
    "curves_figure",
    "figure_from_source",
    "parallel_figure",
    "pareto_figure",
    "pred_vs_true_figure",
    "regret_figure",
    "save_png",
    "save_pred_vs_true",
]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'nas.plot' has no attribute {name!r}")
    module = "nas.plot._source" if name == "figure_from_source" else "nas.plot._figures"
    return getattr(importlib.import_module(module), name)

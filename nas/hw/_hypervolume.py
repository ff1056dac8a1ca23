"""Hypervolume of a Pareto front (minimization vectors, like :mod:`nas._pareto`).

Exact, by slicing along the first objective (HSO, While et al. 2006): plenty for the fronts of
a search (tens of points) and the true front of a benchmark table (a few hundred).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nas._pareto import non_dominated
from nas.errors import EvaluationError

__all__ = ["hypervolume"]


def hypervolume(
    points: Sequence[Sequence[float]] | np.ndarray, reference: Sequence[float] | np.ndarray
) -> float:
    """The volume dominated by ``points`` and bounded by ``reference`` (all minimized).

    Points that do not strictly dominate the reference add nothing.

    Example:
        >>> hypervolume([[1, 3], [2, 2], [3, 1]], reference=[4, 4])
        6.0
        >>> hypervolume([[1, 1, 1]], reference=[2, 3, 4])
        6.0
    """
    ref = np.asarray(reference, dtype=float)
    pts = np.asarray(points, dtype=float).reshape(-1, ref.size)
    pts = pts[np.all(pts < ref, axis=1)]
    if not np.all(np.isfinite(ref)):
        raise EvaluationError(f"hypervolume needs a finite reference point, got {list(reference)}")
    if len(pts) == 0:
        return 0.0
    pts = pts[non_dominated(pts.tolist())]
    return float(_hso(np.unique(pts, axis=0), ref))


def _hso(pts: np.ndarray, ref: np.ndarray) -> float:
    if pts.shape[1] == 1:
        return float(ref[0] - pts[:, 0].min())
    if pts.shape[1] == 2:  # sweep: sorted by the first objective, the second falls
        order = pts[np.argsort(pts[:, 0], kind="stable")]
        volume, best = 0.0, ref[1]
        for x, y in order:
            if y < best:
                volume += (ref[0] - x) * (best - y)
                best = y
        return volume
    order = pts[np.argsort(pts[:, 0], kind="stable")]
    volume = 0.0
    for i in range(len(order)):
        upper = order[i + 1, 0] if i + 1 < len(order) else ref[0]
        if upper <= order[i, 0]:
            continue
        rest = order[: i + 1, 1:]
        rest = rest[non_dominated(rest.tolist())]
        volume += (upper - order[i, 0]) * _hso(rest, ref[1:])
    return volume

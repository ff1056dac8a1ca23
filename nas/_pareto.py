"""Pareto dominance, the non-dominated front and crowding distance (NSGA-II, Deb et al. 2002):
the engine's one Pareto rule, shared by the strategies, the hardware-aware comparison, plots
and reports. Every function works on *minimization* vectors (callers flip the sign of maximized
objectives). The sizes involved are small, so the simple O(M n^2) methods are clearest.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["crowding_distance", "dominates", "non_dominated"]

Point = Sequence[float]


def dominates(a: Point, b: Point) -> bool:
    """Whether ``a`` Pareto-dominates ``b`` (no worse everywhere, better somewhere; minimizing).

    Example:
        >>> dominates([1, 2], [1, 3]), dominates([1, 2], [1, 2])
        (True, False)
    """
    pairs = list(zip(a, b))  # a NaN pair is neither worse nor better
    return not any(x > y for x, y in pairs) and any(x < y for x, y in pairs)


def non_dominated(points: Sequence[Point]) -> list[int]:
    """Indices of the points no other point dominates, in input order.

    Equal points do not dominate each other, so duplicates all stay on the front.

    Example:
        >>> non_dominated([[1, 3], [2, 2], [2, 3], [3, 1]])
        [0, 1, 3]
    """
    if any(x != x for p in points for x in p):  # NaN has no order: check every pair
        return [i for i, p in enumerate(points) if not any(dominates(q, p) for q in points)]
    # A dominator is no worse anywhere, so it sorts first, and a dominated point is dominated
    # by a point of the front (dominance is transitive): one sorted pass against the front.
    front: list[int] = []
    for i in sorted(range(len(points)), key=lambda i: tuple(points[i])):
        if not any(dominates(points[j], points[i]) for j in front):
            front.append(i)
    return sorted(front)


def crowding_distance(points: Sequence[Point]) -> list[float]:
    """NSGA-II crowding distance of each point within one front (boundary points get inf).

    Example:
        >>> crowding_distance([[0, 2], [1, 1], [2, 0]])
        [inf, 2.0, inf]
    """
    n = len(points)
    if n <= 2:
        return [math.inf] * n
    distance = [0.0] * n
    for m in range(len(points[0])):
        order = sorted(range(n), key=lambda i: points[i][m])
        lo, hi = points[order[0]][m], points[order[-1]][m]
        distance[order[0]] = distance[order[-1]] = math.inf
        if hi == lo:
            continue
        for k in range(1, n - 1):
            distance[order[k]] += (points[order[k + 1]][m] - points[order[k - 1]][m]) / (hi - lo)
    return distance

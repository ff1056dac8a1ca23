"""The one status vocabulary of a result: stored in every row, told to every strategy.

``ok`` is a result to rank. ``failed``, ``timeout`` and ``diverged`` are evaluations that
ran and gave no usable metric. ``cut`` is a trial the search's own end (time budget,
Ctrl-C) stopped or never started. ``reused`` is a proposal answered from an earlier trial
of the same run (same arch, or an isomorphic graph with the same recipe): it carries that
trial's metrics and names it in ``reused_from``; nothing was trained for it. ``pending``
marks a row written before its evaluation finished (imports, external tools).
"""

from __future__ import annotations

__all__ = ["FAILED_STATUSES", "STATUSES", "tell_status"]

STATUSES = ("ok", "failed", "timeout", "diverged", "cut", "reused", "pending")

#: Statuses a strategy is told for an evaluation that gave no metric to rank.
FAILED_STATUSES = frozenset({"failed", "timeout", "diverged", "cut"})


def tell_status(status: str) -> str:
    """What a strategy is told for a row of this status (a ``reused`` row tells its source's).

    Example:
        >>> tell_status("ok"), tell_status("timeout"), tell_status("pending")
        ('ok', 'timeout', 'failed')
    """
    return status if status == "ok" or status in FAILED_STATUSES else "failed"

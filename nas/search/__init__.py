"""Ask/tell search strategies, and :func:`run`, the one entry point of a search.

A strategy proposes candidates with ``ask(n)`` and learns their metrics with
``tell(candidate_id, metrics, status=...)``; it never proposes an arch twice, keeps the
Pareto front of feasible results, and saves its whole state as JSON. Built-ins: ``random``,
``rea`` (regularized evolution), ``ls`` (local search), ``tpe`` and ``nsga2`` (Optuna); a
user's strategy registers with :func:`register_strategy` like them. :func:`run` searches in
this process or on Ray over one driver; an objective can be a function ``arch -> metrics``.

Example:
    >>> from nas.search import Constraint, Objective, get_strategy
    >>> from nas.space import get_space
    >>> space = get_space("nb201")
    >>> s = get_strategy("rea", space, seed=0, population_size=10,
    ...                  objectives=[Objective("val_accuracy"), Objective("params", "min")],
    ...                  constraints=[Constraint("params", max=1e6)])
    >>> for c in s.ask(4):
    ...     params = float(space.compile(c.arch).params)
    ...     s.tell(c.candidate_id, {"val_accuracy": params / 1e4, "params": params})
    >>> len(s.pareto_front()) >= 1
    True
"""

from __future__ import annotations

from nas._pareto import dominates, non_dominated
from nas.search._base import Candidate, Constraint, Objective, SearchError, Strategy
from nas.search._driver import AskTell, Evaluator, SearchResult, result_metrics
from nas.search._evolution import RegularizedEvolution
from nas.search._local import LocalSearch
from nas.search._optuna import NSGA2Search, OptunaStrategy, TPESearch
from nas.search._random import RandomSearch
from nas.search._registry import get_strategy, list_strategies, register_strategy
from nas.search._run import FunctionEvaluator, RayOptions, run
from nas.search._state import StateError

__all__ = [
    "AskTell",
    "Candidate",
    "Constraint",
    "Evaluator",
    "FunctionEvaluator",
    "LocalSearch",
    "NSGA2Search",
    "Objective",
    "OptunaStrategy",
    "RandomSearch",
    "RayOptions",
    "RegularizedEvolution",
    "SearchError",
    "SearchResult",
    "StateError",
    "Strategy",
    "TPESearch",
    "dominates",
    "get_strategy",
    "list_strategies",
    "non_dominated",
    "register_strategy",
    "result_metrics",
    "run",
]

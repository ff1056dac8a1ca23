"""Multi-objective search: the Pareto front, best() and hard constraints."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nas._pareto import crowding_distance, non_dominated
from nas.search import Constraint, Objective
from nas.space import Arch

from .helpers import STRATEGIES, make, space_named, synthetic_score


def brute_force_front(rows: list[tuple[str, float, float]]) -> set[str]:
    """Ids of rows (id, accuracy up, params down) that no other row dominates."""
    front = set()
    for cid, acc, params in rows:
        beaten = any(a >= acc and p <= params and (a > acc or p < params) for _, a, p in rows)
        if not beaten:
            front.add(cid)
    return front


@pytest.mark.parametrize("name", STRATEGIES)
def test_front_is_exactly_the_feasible_non_dominated_set(name: str) -> None:
    space = space_named("nb_macro")
    accuracy = synthetic_score(space)
    params_cache: dict[str, float] = {}

    def params(arch: Arch) -> float:
        if arch.arch_id not in params_cache:
            params_cache[arch.arch_id] = float(space.compile(arch).params)
        return params_cache[arch.arch_id]

    limit = 1_000_000.0
    strategy = make(
        name,
        space,
        seed=7,
        objectives=[Objective("val_accuracy", "max"), Objective("params", "min")],
        constraints=[Constraint("params", max=limit)],
    )
    for step in range(60):
        [c] = strategy.ask()
        if step % 9 == 8:
            strategy.tell(c.candidate_id, None, status="timeout")
        else:
            strategy.tell(
                c.candidate_id, {"val_accuracy": accuracy(c.arch), "params": params(c.arch)}
            )

    told = strategy.results()
    feasible = [
        (c.candidate_id, m["val_accuracy"], m["params"])
        for c, status, m in told
        if status == "ok" and m["params"] <= limit
    ]
    infeasible = {c.candidate_id for c, status, m in told if status == "ok" and m["params"] > limit}
    assert feasible and infeasible, "the test needs results on both sides of the constraint"

    front = {c.candidate_id for c, _ in strategy.pareto_front()}
    assert front == brute_force_front(feasible)
    assert not front & infeasible

    best, metrics = strategy.best()
    assert best.candidate_id not in infeasible
    assert metrics["val_accuracy"] == max(acc for _, acc, _ in feasible)


def test_infeasible_and_failed_results_are_never_best() -> None:
    strategy = make(
        "random", space_named("nb201"), constraints=[Constraint("latency_ms", min=1.0, max=5.0)]
    )
    a, b, c, d = strategy.ask(4)
    strategy.tell(a.candidate_id, {"val_accuracy": 99.0, "latency_ms": 9.0})  # too slow
    strategy.tell(b.candidate_id, {"val_accuracy": 98.0, "latency_ms": 0.5})  # below min
    strategy.tell(c.candidate_id, {"val_accuracy": 97.0}, status="diverged")
    assert strategy.best() is None
    assert strategy.pareto_front() == []
    strategy.tell(d.candidate_id, {"val_accuracy": 50.0, "latency_ms": 5.0})  # bound inclusive
    assert strategy.best()[0] == d
    assert [cand for cand, _ in strategy.pareto_front()] == [d]
    assert strategy.is_feasible({"latency_ms": 1.0}) and not strategy.is_feasible({"latency_ms": 6})


def test_nan_objective_counts_as_failed() -> None:
    strategy = make("random", space_named("nb201"))
    a, b = strategy.ask(2)
    strategy.tell(a.candidate_id, {"val_accuracy": math.nan})
    strategy.tell(b.candidate_id, {"val_accuracy": 10.0})
    assert [status for _, status, _ in strategy.results()] == ["failed", "ok"]
    assert strategy.best()[0] == b


def test_best_for_a_minimized_first_objective() -> None:
    strategy = make("random", space_named("nb201"), objectives=[Objective("val_loss", "min")])
    cands = strategy.ask(3)
    for c, loss in zip(cands, [0.5, 0.2, 0.9]):
        strategy.tell(c.candidate_id, {"val_loss": loss})
    assert strategy.best()[0] == cands[1]


def test_rea_tournament_uses_pareto_rank_then_crowding() -> None:
    from nas.search._base import Told
    from nas.search._evolution import select_winner

    strategy = make("rea", space_named("nb201"), objectives=[Objective("a"), Objective("b", "min")])
    sample = [
        Told("dominated", "ok", {"a": 1.0, "b": 5.0}),
        Told("left", "ok", {"a": 2.0, "b": 1.0}),
        Told("middle", "ok", {"a": 3.0, "b": 2.0}),
        Told("middle2", "ok", {"a": 3.1, "b": 2.1}),
        Told("right", "ok", {"a": 5.0, "b": 4.0}),
        Told("infeasible", "ok", {"a": 9.0, "b": 0.0}, violation=1.0),
    ]
    # Extremes of the front have infinite crowding; the first sampled one wins the tie.
    assert select_winner(sample, strategy) == "left"
    assert select_winner(sample[2:5], strategy) == "middle"
    assert select_winner([sample[0], sample[5]], strategy) == "dominated"


points = st.lists(
    st.tuples(st.integers(0, 5), st.integers(0, 5)).map(list), min_size=1, max_size=25
)


@settings(max_examples=60, deadline=None)
@given(points)
def test_non_dominated_matches_brute_force(pts: list[list[int]]) -> None:
    rows = [(str(i), -float(p[0]), float(p[1])) for i, p in enumerate(pts)]  # acc = -p0
    assert {str(i) for i in non_dominated(pts)} == brute_force_front(rows)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.lists(
            st.sampled_from([0.0, 0.5, 1.0, 2.0, -1.0, math.inf, math.nan]), min_size=3, max_size=3
        ),
        max_size=30,
    )
)
def test_non_dominated_is_every_point_no_other_dominates(pts: list[list[float]]) -> None:
    # three objectives, ties, infinities and NaN (a NaN pair is neither worse nor better)
    def dominated(p: list[float]) -> bool:
        return any(
            all(not x > y for x, y in zip(q, p)) and any(x < y for x, y in zip(q, p)) for q in pts
        )

    assert non_dominated(pts) == [i for i, p in enumerate(pts) if not dominated(p)]


def test_crowding_distance_boundaries_are_infinite() -> None:
    d = crowding_distance([[0.0, 4.0], [1.0, 3.0], [3.0, 1.0], [4.0, 0.0]])
    assert d[0] == d[3] == math.inf
    assert d[1] == pytest.approx(3 / 4 + 3 / 4) and d[2] == pytest.approx(3 / 4 + 3 / 4)

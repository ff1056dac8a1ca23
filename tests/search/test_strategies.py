"""Built-in strategies on real spaces, beyond the shared contract.

The contract itself (valid, unrepeated proposals, exhausting a finite space, seeding, state
round trips) is checked for every registered strategy in ``tests/test_conformance.py``.
"""

from __future__ import annotations

from typing import Any

import pytest

from nas.search import Candidate, list_strategies

from .helpers import (
    STRATEGIES,
    drive,
    json_round_trip,
    make,
    space_named,
    synthetic_score,
)

SPACES = ["nb201", "nb_macro", "cnn1d"]


def test_builtins_are_registered() -> None:
    assert set(STRATEGIES) <= set(list_strategies())


@pytest.mark.parametrize("space_name", SPACES)
@pytest.mark.parametrize("name", STRATEGIES)
def test_loop_never_proposes_invalid_or_repeated_archs(name: str, space_name: str) -> None:
    space = space_named(space_name)
    strategy = make(name, space, seed=3)
    archs = drive(strategy, 70, synthetic_score(space))
    assert len(archs) == 70
    assert all(space.contains(a) for a in archs)
    assert len({a.arch_id for a in archs}) == len(archs)
    # Failed candidates (every 7th) are evaluated but never best.
    failed = {c.candidate_id for c, status, _ in strategy.results() if status != "ok"}
    assert len(failed) == 10
    best, metrics = strategy.best()
    assert best.candidate_id not in failed
    oks = [m["val_accuracy"] for _, status, m in strategy.results() if status == "ok"]
    assert metrics["val_accuracy"] == max(oks)


@pytest.mark.parametrize("name", STRATEGIES)
def test_batched_asks_with_pending_candidates(name: str) -> None:
    space = space_named("nb201")
    score = synthetic_score(space)
    strategy = make(name, space, seed=5)
    seen: set[str] = set()
    for _ in range(8):
        batch = strategy.ask(6)
        assert len(batch) == 6
        assert strategy.pending == [c.candidate_id for c in batch]
        for c in batch:
            assert space.contains(c.arch) and c.arch.arch_id not in seen
            seen.add(c.arch.arch_id)
        for c in reversed(batch):  # results come back out of order
            strategy.tell(c.candidate_id, {"val_accuracy": score(c.arch)})
    assert strategy.num_told == 48 and strategy.pending == []


@pytest.mark.parametrize("name", STRATEGIES)
def test_same_seed_same_search_other_seed_differs(name: str) -> None:
    space = space_named("nb_macro")
    score = synthetic_score(space)
    runs = [drive(make(name, space, seed=s), 15, score) for s in (1, 1, 2)]
    ids = [[a.arch_id for a in run] for run in runs]
    assert ids[0] == ids[1]
    assert ids[0] != ids[2]


@pytest.mark.parametrize("name", STRATEGIES)
def test_batch_larger_than_the_space_returns_fewer(name: str) -> None:
    space = space_named("tiny")
    strategy = make(name, space, seed=2)
    batch = strategy.ask(10)  # all pending: duplicates cannot be answered yet
    assert len(batch) == 6
    assert len({c.arch.arch_id for c in batch}) == 6
    for c in batch:
        strategy.tell(c.candidate_id, {"val_accuracy": 1.0})
    assert strategy.ask(1) == []
    json_round_trip(strategy.state_dict())  # the state stays JSON-able
    if name in ("tpe", "nsga2"):  # every duplicate Optuna proposed was told too
        assert {t.state.name for t in strategy.study.get_trials()} <= {"COMPLETE", "FAIL"}


def test_optuna_duplicates_are_told_the_known_value() -> None:
    space = space_named("tiny")
    strategy = make("tpe", space, seed=0, n_startup_trials=2)
    score = synthetic_score(space)
    drive(strategy, 6, score)
    trials = _study_trials(strategy)
    by_candidate = {
        t["user_attrs"]["candidate_id"]: t for t in trials if "candidate_id" in t["user_attrs"]
    }
    duplicates = [t for t in trials if "duplicate_of" in t["user_attrs"]]
    assert len(by_candidate) == 6
    assert duplicates, "TPE on a 6-arch space should propose a repeat"
    for t in duplicates:
        original = by_candidate[t["user_attrs"]["duplicate_of"]]
        assert (t["state"], t["values"], t["params"]) == (
            original["state"],
            original["values"],
            original["params"],
        )


def test_candidates_are_frozen_and_ids_unique() -> None:
    strategy = make("random", space_named("nb201"), seed=0)
    batch = strategy.ask(5)
    assert all(isinstance(c, Candidate) for c in batch)
    assert len({c.candidate_id for c in batch}) == 5
    with pytest.raises(AttributeError):
        batch[0].candidate_id = "x"  # type: ignore[misc]


def _study_trials(strategy: Any) -> list[dict[str, Any]]:
    """The Optuna study's trials, read through Optuna's public API."""
    return [
        {"state": t.state.name, "values": t.values, "params": t.params,
         "user_attrs": t.user_attrs, "system_attrs": t.system_attrs}
        for t in strategy.study.get_trials()
    ]  # fmt: skip


@pytest.mark.parametrize("name", ["tpe", "nsga2"])
def test_optuna_falls_back_to_an_enqueued_random_arch(name: str) -> None:
    # One retry only: a repeat proposal goes straight to a random unseen arch, which is
    # enqueued so Optuna still learns from it (tuple-valued choices travel as indices).
    space = space_named("tiny_conditional")
    strategy = make(name, space, seed=0, max_retries=1)
    archs = drive(strategy, 20, synthetic_score(space))
    assert len(archs) == space.size() == len({a.arch_id for a in archs})
    trials = _study_trials(strategy)
    enqueued = [t for t in trials if "fixed_params" in t["system_attrs"]]
    assert enqueued
    assert all(t["params"]["recipe.betas"] in (0, 1) for t in enqueued)
    proposed = {t["user_attrs"].get("candidate_id") for t in trials} - {None}
    assert len(proposed) == space.size()

"""The last trials of a budget are proposed together and started longest first."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from nas.run import TrainingEvaluator
from nas.search import get_strategy
from nas.search._driver import Driver
from nas.search._state import RunState
from nas.space import Arch, get_space


class _Plain:
    """An evaluator the driver never calls (a driver hands out trials; executors evaluate)."""

    dataset = "mnist1d"

    def evaluate(self, arch, *, seed, trial_id=None):  # pragma: no cover - never called
        raise AssertionError("the driver does not evaluate")


class _Costed(_Plain):
    def __init__(self, cost) -> None:
        self.estimate_cost = cost


def _driver(tmp_path: Path, budget: int, cost, window: int) -> Driver:
    space = get_space("cnn1d")
    strategy = get_strategy("random", space, seed=1)
    state = RunState(
        run_id="r", space="cnn1d", dataset="mnist1d", strategy_name="random", budget=budget,
        seed=0, strategy=strategy.state_dict(),
    )  # fmt: skip
    evaluator = _Plain() if cost is None else _Costed(cost)
    return Driver(space, strategy, evaluator, state, run_dir=tmp_path / "run", tail_window=window)


def test_tail_is_started_longest_first_and_every_proposal_is_saved(tmp_path: Path) -> None:
    evaluator = TrainingEvaluator("cnn1d", "mnist1d")
    driver = _driver(tmp_path, budget=7, cost=evaluator.estimate_cost, window=4)
    trials = [driver.next_trial() for _ in range(4)]
    # The four tail proposals hit the state file when they were asked together, before the
    # first of them started: a crash re-runs them on resume.
    saved = json.loads((tmp_path / "run" / "search_state.json").read_text())
    assert len(saved["proposals"]) == 7
    trials += [driver.next_trial() for _ in range(3)]
    assert driver.next_trial() is None
    assert all(t is not None for t in trials)
    cids = [t.candidate_id for t in trials]
    assert sorted(cids) == sorted(saved["proposals"])
    costs = [evaluator.estimate_cost(t.arch) for t in trials]
    assert costs[3:] == sorted(costs[3:], reverse=True)
    in_ask_order = [
        evaluator.estimate_cost(Arch.from_json(saved["proposals"][c])) for c in sorted(cids[3:])
    ]
    assert costs[3:] != in_ask_order  # the strategy's own order was not this one


def test_without_a_cost_estimate_the_order_is_the_strategys(tmp_path: Path) -> None:
    driver = _driver(tmp_path, budget=5, cost=None, window=4)
    got = [driver.next_trial().arch.to_json() for _ in range(5)]
    space = get_space("cnn1d")
    expected = [c.arch.to_json() for c in get_strategy("random", space, seed=1).ask(5)]
    assert got == expected


def test_a_failing_estimate_does_not_stop_the_search(tmp_path: Path) -> None:
    def broken(arch):
        raise RuntimeError("no estimate")

    driver = _driver(tmp_path, budget=4, cost=broken, window=4)
    assert all(driver.next_trial() is not None for _ in range(4))


def test_cost_grows_with_epochs_and_flops_and_falls_with_batch_size() -> None:
    space = get_space("cnn1d")
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(30)]
    base = TrainingEvaluator(space, "mnist1d", recipe_overrides={"epochs": 2, "batch_size": 64})
    more = TrainingEvaluator(space, "mnist1d", recipe_overrides={"epochs": 4, "batch_size": 64})
    bigger = TrainingEvaluator(space, "mnist1d", recipe_overrides={"epochs": 2, "batch_size": 256})
    a = archs[0]
    assert more.estimate_cost(a) == 2 * base.estimate_cost(a)
    assert bigger.estimate_cost(a) < base.estimate_cost(a)
    flops = [space.compile(x).flops for x in archs]
    costs = [base.estimate_cost(x) for x in archs]
    assert np.argsort(flops).tolist() == np.argsort(costs).tolist()

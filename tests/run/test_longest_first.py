"""The last trials of a budget are proposed together and started longest first."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from nas.run import TrainingEvaluator
from nas.run._driver import FINISHED, Driver
from nas.run._progress import SearchProgress
from nas.run._state import RunState
from nas.search import get_strategy
from nas.space import Arch, get_space
from nas.store import ResultStore


def _driver(tmp_path: Path, budget: int, cost, window: int) -> Driver:
    space = get_space("cnn1d")
    strategy = get_strategy("random", space, seed=1)
    state = RunState(
        run_id="r", space="cnn1d", dataset="mnist1d", budget=budget, seed=0,
        strategy=strategy.state_dict(),
    )  # fmt: skip
    return Driver(
        space, strategy, "mnist1d", ResultStore(tmp_path / "store"), tmp_path / "run", state,
        SearchProgress(budget, enabled=False), cost=cost, tail_window=window,
    )  # fmt: skip


def test_tail_is_started_longest_first_and_every_proposal_is_saved(tmp_path: Path) -> None:
    evaluator = TrainingEvaluator("cnn1d", "mnist1d")
    driver = _driver(tmp_path, budget=7, cost=evaluator.estimate_cost, window=4)
    configs = [driver.next_config(f"t{i}") for i in range(4)]
    # The four tail proposals hit the state file when they were asked together, before the
    # first of them started: a crash re-runs them on resume.
    saved = json.loads((tmp_path / "run" / "search_state.json").read_text())
    assert len(saved["proposals"]) == 7
    configs += [driver.next_config(f"t{i}") for i in range(4, 7)]
    assert driver.next_config("t7") == FINISHED
    assert all(isinstance(c, dict) for c in configs)
    cids = [c["candidate_id"] for c in configs]  # type: ignore[index]
    assert sorted(cids) == sorted(saved["proposals"])
    costs = [evaluator.estimate_cost(Arch.from_json(c["arch"])) for c in configs]  # type: ignore[index]
    assert costs[3:] == sorted(costs[3:], reverse=True)
    assert costs[3:] != [
        evaluator.estimate_cost(Arch.from_json(saved["proposals"][c]["arch"]))
        for c in sorted(cids[3:])
    ]  # the strategy's own order was not this one


def test_without_a_cost_estimate_the_order_is_the_strategys(tmp_path: Path) -> None:
    driver = _driver(tmp_path, budget=5, cost=None, window=4)
    got = [driver.next_config(f"t{i}")["arch"] for i in range(5)]  # type: ignore[index]
    space = get_space("cnn1d")
    expected = [c.arch.to_json() for c in get_strategy("random", space, seed=1).ask(5)]
    assert got == expected


def test_a_failing_estimate_does_not_stop_the_search(tmp_path: Path) -> None:
    def broken(arch):
        raise RuntimeError("no estimate")

    driver = _driver(tmp_path, budget=4, cost=broken, window=4)
    assert all(isinstance(driver.next_config(f"t{i}"), dict) for i in range(4))


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

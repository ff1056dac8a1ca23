"""A time budget covers the whole search (resumed sessions add up) and never starts a trial
it would then throw away: one that is not expected to fit is stored as cut."""

from __future__ import annotations

import json
import time
from pathlib import Path

from nas.cli._search import _default_run_dir
from nas.run import TrainingEvaluator
from nas.search import get_strategy, run
from nas.search._driver import Driver
from nas.search._state import RunState
from nas.space import get_space
from nas.store import Result, ResultStore


def _state(space, strategy, **kw) -> RunState:
    return RunState(
        run_id="run", space=space.name, dataset="mnist1d", strategy_name="random", budget=5,
        seed=0, strategy=strategy.state_dict(), **kw,
    )  # fmt: skip


class _TenSeconds:
    """Every arch costs 1 unit and 'trains' for 10 s (recorded, not slept)."""

    dataset = "mnist1d"

    def estimate_cost(self, arch) -> float:
        return 1.0

    def evaluate(self, arch, *, seed, trial_id=None) -> Result:
        return Result(
            space=arch.space, arch=arch.to_json(), arch_id=arch.arch_id, dataset="mnist1d",
            status="ok", val_accuracy=50.0, train_seconds=10.0, fidelity=1,
        )  # fmt: skip


def test_driver_adds_this_sessions_wall_time_to_the_saved_elapsed(tmp_path: Path) -> None:
    space = get_space("cnn1d")
    strategy = get_strategy("random", space, seed=0)
    state = _state(space, strategy, time_budget_s=100.0, elapsed_s=40.0)
    driver = Driver(space, strategy, _TenSeconds(), state, run_dir=tmp_path / "run")
    time.sleep(0.2)
    assert driver.next_trial() is not None  # an ask saves the state
    saved = json.loads((tmp_path / "run" / "search_state.json").read_text())
    assert 40.2 <= saved["elapsed_s"] < 60.0
    assert saved["time_budget_s"] == 100.0


def test_a_trial_that_will_not_fit_the_time_left_is_stored_as_cut(tmp_path: Path) -> None:
    space = get_space("cnn1d")
    strategy = get_strategy("random", space, seed=0)
    # 15 s left: the first trial (no estimate yet) starts and takes 10 s of training...
    state = _state(space, strategy, time_budget_s=100.0, elapsed_s=85.0)
    store = ResultStore(tmp_path / "store")
    driver = Driver(space, strategy, _TenSeconds(), state, store=store, run_dir=tmp_path / "run")
    first = driver.next_trial()
    driver.complete(first.candidate_id, _TenSeconds().evaluate(first.arch, seed=0))
    driver._elapsed_before = 89.0  # ...and the clock moved on by them: 11 s left, 10 s needed
    second = driver.next_trial()
    assert second is not None
    driver._elapsed_before = 91.0  # 9 s left: the next one would not finish
    assert driver.next_trial() is None  # nothing started; the proposal is stored as cut
    assert driver.next_trial() is None  # and no more are asked
    driver.complete(second.candidate_id, _TenSeconds().evaluate(second.arch, seed=0))
    driver.close(interrupted=False)
    rows = sorted(store.results(), key=lambda r: r.candidate_id)
    assert [r.status for r in rows] == ["ok", "ok", "cut"] and len(driver.state.proposals) == 3
    assert "time left" in rows[2].error and rows[2].fidelity == 0
    assert [s for _, s, _ in strategy.results()] == ["ok", "cut", "ok"]  # in tell order


def test_a_resumed_search_whose_time_is_spent_runs_nothing(tmp_path: Path) -> None:
    import ray

    space = get_space("cnn1d")
    strategy = get_strategy("random", space, seed=0)
    _state(space, strategy, time_budget_s=30.0, elapsed_s=30.5).save(tmp_path / "run")
    out = run(
        space, get_strategy("random", space, seed=0), TrainingEvaluator(space, "mnist1d"),
        executor="ray", store=tmp_path / "store", run_dir=tmp_path / "run", resume=True,
        progress=False,
    )  # fmt: skip
    assert out.results == [] and out.run_id == "run"
    assert not ray.is_initialized()  # nothing to run: Ray was never started
    saved = RunState.load(tmp_path / "run")
    assert saved is not None and saved.proposals == {}


def test_a_time_budget_given_on_resume_replaces_the_saved_one(tmp_path: Path) -> None:
    space = get_space("cnn1d")
    strategy = get_strategy("random", space, seed=0)
    _state(space, strategy, time_budget_s=3600.0, elapsed_s=30.5).save(tmp_path / "run")
    out = run(
        space, get_strategy("random", space, seed=0), TrainingEvaluator(space, "mnist1d"),
        time_budget_s=20.0, store=tmp_path / "store", run_dir=tmp_path / "run", resume=True,
        progress=False,
    )  # fmt: skip
    assert out.results == []  # 20 s in all, 30.5 s already spent: nothing left to run
    saved = RunState.load(tmp_path / "run")
    assert saved is not None and saved.time_budget_s == 20.0


def test_default_run_dir_is_local_even_for_object_store_uris() -> None:
    assert _default_run_dir("runs/a", "x1") == str(Path("runs/a.runs/x1"))
    assert _default_run_dir("file:///data/s", "x1") == str(Path("/data/s.runs/x1"))
    assert _default_run_dir("s3://bucket/nas", "x1") == str(Path("nas-runs/x1"))

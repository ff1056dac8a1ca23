"""A time budget covers the whole search: the sessions of a resumed run add up."""

from __future__ import annotations

import json
import time
from pathlib import Path

from nas.cli._search import _default_run_dir
from nas.run import TrainingEvaluator, run_ray_search
from nas.run._driver import Driver
from nas.run._progress import SearchProgress
from nas.run._state import RunState
from nas.search import get_strategy
from nas.space import get_space
from nas.store import ResultStore


def _state(space, strategy, **kw) -> RunState:
    return RunState(
        run_id="r1", space=space.name, dataset="mnist1d", budget=5, seed=0,
        strategy=strategy.state_dict(), **kw,
    )  # fmt: skip


def test_driver_adds_this_sessions_wall_time_to_the_saved_elapsed(tmp_path: Path) -> None:
    space = get_space("cnn1d")
    strategy = get_strategy("random", space, seed=0)
    state = _state(space, strategy, time_budget_s=100.0, elapsed_s=40.0)
    store = ResultStore(tmp_path / "store")
    progress = SearchProgress(5, enabled=False)
    driver = Driver(space, strategy, "mnist1d", store, tmp_path / "run", state, progress)
    time.sleep(0.2)
    config = driver.next_config("t1")  # an ask saves the state
    assert isinstance(config, dict)
    saved = json.loads((tmp_path / "run" / "search_state.json").read_text())
    assert 40.2 <= saved["elapsed_s"] < 60.0
    assert saved["time_budget_s"] == 100.0


def test_a_resumed_search_whose_time_is_spent_runs_nothing(tmp_path: Path) -> None:
    import ray

    space = get_space("cnn1d")
    strategy = get_strategy("random", space, seed=0)
    _state(space, strategy, time_budget_s=30.0, elapsed_s=30.5).save(tmp_path / "run")
    out = run_ray_search(
        space, get_strategy("random", space, seed=0), TrainingEvaluator(space, "mnist1d"),
        store=tmp_path / "store", run_dir=tmp_path / "run", resume=True, progress=False,
        export_best=False,
    )  # fmt: skip
    assert out.results == [] and out.run_id == "r1"
    assert not ray.is_initialized()  # nothing to run: Ray was never started
    saved = RunState.load(tmp_path / "run")
    assert saved is not None and saved.proposals == {}


def test_a_time_budget_given_on_resume_replaces_the_saved_one(tmp_path: Path) -> None:
    space = get_space("cnn1d")
    strategy = get_strategy("random", space, seed=0)
    _state(space, strategy, time_budget_s=3600.0, elapsed_s=30.5).save(tmp_path / "run")
    out = run_ray_search(
        space, get_strategy("random", space, seed=0), TrainingEvaluator(space, "mnist1d"),
        time_budget_s=20.0, store=tmp_path / "store", run_dir=tmp_path / "run", resume=True,
        progress=False, export_best=False,
    )  # fmt: skip
    assert out.results == []  # 20 s in all, 30.5 s already spent: nothing left to run
    saved = RunState.load(tmp_path / "run")
    assert saved is not None and saved.time_budget_s == 20.0


def test_default_run_dir_is_local_even_for_object_store_uris() -> None:
    assert _default_run_dir("runs/a", "x1") == str(Path("runs/a/_runs/x1"))
    assert _default_run_dir("file:///data/s", "x1") == str(Path("/data/s/_runs/x1"))
    assert _default_run_dir("s3://bucket/nas", "x1") == str(Path("nas-runs/x1"))

"""run_ray_search on a real embedded Ray: stored rows, faults, schedulers, resume after SIGKILL."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cloudpickle
import pytest

from nas.run import TrainingEvaluator, init_ray, run_ray_search
from nas.search import get_strategy
from nas.space import Arch, get_space
from nas.store import ResultStore

from . import _faulty

pytestmark = pytest.mark.ray

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ray_local():
    import ray

    # One embedded Ray for the module; run_ray_search leaves a Ray it did not start running.
    init_ray(None, env_vars={"NAS_CACHE_DIR": os.environ["NAS_CACHE_DIR"]})
    # The fault-injecting evaluator lives in the tests, which the workers cannot import.
    cloudpickle.register_pickle_by_value(_faulty)
    yield
    cloudpickle.unregister_pickle_by_value(_faulty)
    ray.shutdown()


@pytest.fixture(scope="module")
def space():
    return get_space("cnn1d")


def test_search_stores_every_trial_with_curves_and_ids(ray_local, space, tmp_path) -> None:
    store = ResultStore(tmp_path / "store")
    ev = TrainingEvaluator(space, "mnist1d", device="cpu", recipe_overrides={"epochs": 2})
    out = run_ray_search(
        space, get_strategy("random", space, seed=1), ev, budget=6, store=store,
        run_dir=tmp_path / "run", scheduler="asha", progress=False,
    )  # fmt: skip
    rows = store.results()
    assert len(rows) == 6 == len(out.results)
    assert {r.arch_id for r in rows} == {r.arch_id for r in out.results}
    assert len({r.trial_id for r in rows}) == 6 and {r.run_id for r in rows} == {out.run_id}
    for r in rows:
        assert r.status == "ok", r.error
        assert r.host and r.node_id and r.trial_id
        # ASHA may stop a trial after its first epoch: then its fidelity says so.
        assert r.fidelity in (1, 2) and len(r.val_accuracy_curve) == r.fidelity
        assert len(r.train_loss_curve) == len(r.epoch_seconds) == r.fidelity
        assert r.params > 0 and r.flops > 0 and r.graph_hash
        # the stored arch is the canonical arch JSON every reader of the store understands
        assert Arch.from_json(r.arch).arch_id == r.arch_id
        assert (r.extra_dict() or {}).get("stopped_early", False) == (r.fidelity < 2)
    assert out.best is not None
    assert out.best.val_accuracy == max(r.val_accuracy for r in rows)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["best"]["arch_id"] == out.best.arch_id
    assert Path(summary["onnx"]).is_file() and Path(summary["onnx"]).parent == tmp_path


def test_faults_are_recorded_and_the_search_finishes(ray_local, space, tmp_path) -> None:
    archs = [c.arch for c in get_strategy("random", space, seed=2).ask(5)]
    faults = {archs[0].arch_id: "raise", archs[1].arch_id: "diverge", archs[2].arch_id: "timeout"}
    ev = _faulty.FaultyEvaluator(
        space, "mnist1d", device="cpu", recipe_overrides={"epochs": 1}, faults=faults
    )
    store = ResultStore(tmp_path / "store")
    out = run_ray_search(
        space, get_strategy("random", space, seed=2), ev, budget=5, store=store,
        run_dir=tmp_path / "run", progress=False,
    )  # fmt: skip
    by_arch = {r.arch_id: r for r in store.results()}
    assert len(by_arch) == 5 == len(out.results)
    raised = by_arch[archs[0].arch_id]
    assert raised.status == "failed" and "RuntimeError: injected fault" in raised.error
    assert raised.trial_id and raised.run_id == out.run_id
    assert by_arch[archs[1].arch_id].status == "diverged"
    assert "Loss became" in by_arch[archs[1].arch_id].error
    assert by_arch[archs[2].arch_id].status == "timeout"
    assert "Time limit" in by_arch[archs[2].arch_id].error
    assert [by_arch[a.arch_id].status for a in archs[3:]] == ["ok", "ok"]
    assert out.best is not None and out.best.arch_id in {a.arch_id for a in archs[3:]}


def _stored(store_dir: Path) -> int:
    store = ResultStore(store_dir)
    return len(store) if store.is_present() else 0


def test_resume_after_sigkill_of_the_driver(ray_local, space, tmp_path) -> None:
    budget, kill_after = 7, 2
    args = [sys.executable, "-m", "tests.run._search_driver", str(tmp_path), str(budget)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    driver = subprocess.Popen(
        args, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while _stored(tmp_path / "store") < kill_after:
            assert driver.poll() is None, driver.stderr.read().decode()[-3000:]
            assert time.monotonic() < deadline, "the driver stored nothing in time"
            time.sleep(0.5)
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(timeout=30)
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
        # The killed driver's own Ray dies with it (Ray shares its fate); its group too.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(driver.pid, signal.SIGKILL)
    before = ResultStore(tmp_path / "store").results()
    assert kill_after <= len(before) < budget
    state = json.loads((tmp_path / "run" / "search_state.json").read_text())

    # Resume in this process (and this test's Ray), with a fresh strategy object.
    ev = TrainingEvaluator(space, "mnist1d", device="cpu", recipe_overrides={"epochs": 1})
    out = run_ray_search(
        space, get_strategy("random", space, seed=3), ev, budget=budget,
        store=tmp_path / "store", run_dir=tmp_path / "run", resume=True, progress=False,
    )  # fmt: skip
    rows = ResultStore(tmp_path / "store").results()
    keys = [r.key for r in rows]
    assert len(rows) == budget == len(set(keys))  # every trial exactly once, budget respected
    assert {r.run_id for r in rows} == {state["run_id"]} == {out.run_id}
    assert {r.key for r in before} <= set(keys)  # nothing finished before the kill is lost
    assert len({r.arch_id for r in rows}) == budget  # nothing evaluated twice
    final = json.loads((tmp_path / "run" / "search_state.json").read_text())
    assert len(final["told"]) == budget == len(set(final["told"]))
    assert sorted(final["proposals"]) == sorted(final["told"])
    # The proposals made before the kill are the ones a strategy with this seed makes.
    expected = [c.arch.arch_id for c in get_strategy("random", space, seed=3).ask(budget)]
    assert sorted(r.arch_id for r in rows) == sorted(expected)

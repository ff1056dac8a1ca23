"""Searches on a real embedded Ray: stored rows, faults, schedulers, the same search in-process."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cloudpickle
import pytest

from nas.bench import TabularEvaluator
from nas.run import TrainingEvaluator, init_ray
from nas.search import Objective, RayOptions, get_strategy, run
from nas.space import Arch, get_space
from nas.store import ResultStore

from . import _faulty

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def ray_local():
    import ray

    # One embedded Ray for the module; a search leaves a Ray it did not start running.
    init_ray(None, env_vars={"NAS_CACHE_DIR": os.environ["NAS_CACHE_DIR"]})
    # The fault-injecting evaluator lives in the tests, which the workers cannot import.
    cloudpickle.register_pickle_by_value(_faulty)
    yield
    cloudpickle.unregister_pickle_by_value(_faulty)
    ray.shutdown()


@pytest.fixture(scope="module")
def space():
    return get_space("cnn1d")


@pytest.mark.slow
def test_search_stores_every_trial_with_curves_and_ids(ray_local, space, tmp_path) -> None:
    store = ResultStore(tmp_path / "store")
    ev = TrainingEvaluator(space, "mnist1d", device="cpu", recipe_overrides={"epochs": 2})
    out = run(
        space, get_strategy("random", space, seed=1), ev, executor="ray", budget=6, store=store,
        run_dir=tmp_path / "run", ray=RayOptions(scheduler="asha"), progress=False,
        export_best=True,
    )  # fmt: skip
    rows = store.results()
    assert len(rows) == 6 == len(out.results) == out.trained
    assert {r.arch_id for r in rows} == {r.arch_id for r in out.results}
    assert len({r.trial_id for r in rows}) == 6 and {r.run_id for r in rows} == {"run"}
    assert out.run_id == "run" and {r.strategy for r in rows} == {"random"}
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


@pytest.mark.slow
def test_faults_are_recorded_and_the_search_finishes(ray_local, space, tmp_path) -> None:
    archs = [c.arch for c in get_strategy("random", space, seed=2).ask(5)]
    faults = {archs[0].arch_id: "raise", archs[1].arch_id: "diverge", archs[2].arch_id: "timeout"}
    ev = _faulty.FaultyEvaluator(
        space, "mnist1d", device="cpu", recipe_overrides={"epochs": 1}, faults=faults
    )
    store = ResultStore(tmp_path / "store")
    out = run(
        space, get_strategy("random", space, seed=2), ev, executor="ray", budget=5, store=store,
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


_TIMING = {"trial_id", "host", "node_id", "created_at", "train_seconds", "engine_version"}


@pytest.mark.slow
def test_both_executors_run_the_same_search(ray_local, tmp_path) -> None:
    space = get_space("nb201")
    objectives = [Objective("val_accuracy"), Objective("params", "min")]
    outs, stores = {}, {}
    for executor in ("inprocess", "ray"):
        strategy = get_strategy(
            "rea", space, seed=10, population_size=4, sample_size=2, objectives=objectives
        )
        stores[executor] = ResultStore(tmp_path / executor / "store")
        outs[executor] = run(
            space, strategy, TabularEvaluator("nb201-cifar10"), executor=executor, budget=14,
            store=stores[executor], run_dir=tmp_path / executor / "run-1", seed=10,
            progress=False, ray=RayOptions(max_concurrent=1) if executor == "ray" else None,
        )  # fmt: skip
    here, there = outs["inprocess"], outs["ray"]
    assert [r.arch_id for r in here.results] == [r.arch_id for r in there.results]
    assert [r.candidate_id for r in here.pareto] == [r.candidate_id for r in there.pareto]
    assert here.best.candidate_id == there.best.candidate_id
    assert (here.proposed, here.trained) == (there.proposed, there.trained)
    assert here.trained < here.proposed  # isomorphic proposals were reused on both

    def rows(store: ResultStore) -> list[dict]:
        out = [{k: v for k, v in r.to_row().items() if k not in _TIMING} for r in store.results()]
        return sorted(out, key=lambda row: row["candidate_id"])

    assert rows(stores["inprocess"]) == rows(stores["ray"])
    assert len(rows(stores["ray"])) == 14

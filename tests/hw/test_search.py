"""Accuracy x latency: the latency evaluator, hypervolume, the Pareto race and its CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nas.bench import TabularEvaluator
from nas.cli import main
from nas.errors import EvaluationError
from nas.hw import LatencyEvaluator, compare_pareto, hypervolume, latency_table
from nas.search import Objective, get_strategy, run
from nas.search_spaces.nb201 import format_arch_str
from nas.space import get_space


def test_hypervolume_exact_values_and_monte_carlo() -> None:
    assert hypervolume([[1, 3], [2, 2], [3, 1]], [4, 4]) == 6.0
    assert hypervolume([[1, 3], [2, 2], [2, 3], [5, 0]], [4, 4]) == 5.0  # dominated, outside
    assert hypervolume([], [1, 1]) == 0.0
    rng = np.random.default_rng(0)
    points = rng.random((25, 3))
    samples = rng.random((100_000, 3))
    covered = (samples[:, None, :] >= points[None]).all(-1).any(1).mean()
    assert hypervolume(points, [1, 1, 1]) == pytest.approx(covered, abs=0.01)
    with pytest.raises(EvaluationError, match="finite reference"):
        hypervolume([[1, 1]], [np.inf, 2])


def test_latency_evaluator_adds_the_devices_and_a_search_minimises_them() -> None:
    base = TabularEvaluator("nb201-cifar10")
    ev = LatencyEvaluator(base, "help-nb201", ["pixel3", "raspi4"])
    space = get_space("nb201")
    arch = space.sample(np.random.default_rng(3))
    r = ev.evaluate(arch, seed=1, trial_id="t")
    table = latency_table("help-nb201")
    row = table.table.column("arch_str").to_pylist().index(format_arch_str(arch))
    assert r.extra_dict()["latency_raspi4"] == pytest.approx(float(table.column("raspi4")[row]))
    assert r.latency_ms == r.extra_dict()["latency_pixel3"]
    assert r.val_accuracy == base.lookup(arch).val_accuracy  # the base's metrics are kept
    assert ev.graph_hash(arch) == base.graph_hash(arch)
    with pytest.raises(EvaluationError, match="list of devices"):
        LatencyEvaluator(base, "help-nb201", "pixel3")

    objectives = [Objective("val_accuracy"), Objective("latency_pixel3", "min")]
    strategy = get_strategy("rea", space, seed=0, objectives=objectives, population_size=10)
    out = run(space, strategy, ev, budget=40, seed=0, progress=False)
    front = [(p.val_accuracy, p.extra_dict()["latency_pixel3"]) for p in out.pareto]
    assert len(front) >= 2
    for acc, lat in front:  # nothing evaluated dominates a front member
        assert not any(
            r.val_accuracy >= acc and r.extra_dict()["latency_pixel3"] < lat
            for r in out.results
            if r.status == "ok"
        )


def test_pareto_race_ratios_grow_with_queries_and_stay_below_one() -> None:
    c = compare_pareto("nb201-cifar10", ["random"], queries=60, seeds=3, checkpoints=[5, 60],
                       progress=False)  # fmt: skip
    ratio = c.hv_ratio["random"]
    assert ratio.shape == (3, 2)
    assert np.all(ratio > 0) and np.all(ratio <= 1 + 1e-9)
    assert np.all(ratio[:, 1] >= ratio[:, 0])
    assert np.all(c.hv_ratio_test["random"] <= 1 + 1e-9)
    d = c.to_dict()
    assert d["true_front_size"] == len(c.true_front) > 5
    lats = [p["latency_pixel3"] for p in c.true_front]
    accs = [p["val_accuracy"] for p in c.true_front]
    assert lats == sorted(lats) and accs == sorted(accs)  # a front: faster means less accurate


def test_benchmark_search_cli_with_a_latency_objective(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["benchmark", "search", "--table", "nb201-cifar10", "--strategies", "random,rea",
            "--queries", "30", "--seeds", "2", "--objectives",
            "val_accuracy:max,latency_raspi4:min", "--json"]  # fmt: skip
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["device"] == "raspi4" and set(out["strategies"]) == {"random", "rea"}
    assert 0 < out["strategies"]["rea"]["hv_ratio"]["mean"][-1] <= 1
    assert main([*argv[:-3], "--objectives", "val_accuracy:max,latency_raspi:min"]) == 2
    err = capsys.readouterr().err
    assert "did you mean 'raspi4'" in err and len(err.strip().splitlines()) == 1
    assert main([*argv[:-3], "--objectives", "val_accuracy:max,params:min"]) == 2
    assert "expected val_accuracy:max" in capsys.readouterr().err


def test_with_latency_wraps_only_for_a_latency_objective() -> None:
    from nas.errors import RegistryError
    from nas.hw import with_latency

    base = TabularEvaluator("nb201-cifar10")
    assert with_latency(base, ["val_accuracy", "latency_ms"], "nb201") is base
    wrapped = with_latency(base, ["val_accuracy", "latency_fpga", "latency_eyeriss"], "nb201")
    assert isinstance(wrapped, LatencyEvaluator) and wrapped.devices == ("fpga", "eyeriss")
    with pytest.raises(RegistryError, match="did you mean 'latency_fpga'"):
        with_latency(base, ["latency_fpg"], "nb201")
    with pytest.raises(RegistryError, match="tables: none"):
        with_latency(base, ["latency_fpga"], "nb_macro")

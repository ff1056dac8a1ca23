"""`nas.search.run` in-process on the real tabular evaluator and a real result store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nas.bench import TabularEvaluator
from nas.errors import TrainingError
from nas.search import (
    Constraint,
    Evaluator,
    Objective,
    SearchResult,
    get_strategy,
    non_dominated,
    result_metrics,
    run,
)
from nas.space import get_space
from nas.store import ResultStore

from .helpers import OPTIONS, STRATEGIES, tiny_space

TABLE = "nb-macro"


@pytest.fixture(scope="module")
def evaluator() -> TabularEvaluator:
    return TabularEvaluator(TABLE)


@pytest.mark.parametrize("name", STRATEGIES)
def test_every_evaluation_reaches_the_store_once(
    name: str, evaluator: TabularEvaluator, tmp_path: Path
) -> None:
    space = get_space("nb_macro")
    store = ResultStore(tmp_path / "store")
    strategy = get_strategy(name, space, seed=3, **OPTIONS[name])
    out = run(
        space, strategy, evaluator, budget=40, store=store, seed=3, run_dir=tmp_path / "r1",
        progress=False,
    )  # fmt: skip
    assert isinstance(out, SearchResult) and out.run_id == "r1"
    assert len(out.results) == 40 == out.proposed
    ids = [r.arch_id for r in out.results]
    assert len(set(ids)) == 40, "an arch was proposed twice"
    stored = store.results()
    assert sorted(r.arch_id for r in stored) == sorted(ids)
    assert {r.run_id for r in stored} == {"r1"} and {r.seed for r in stored} == {3}
    assert {r.strategy for r in stored} == {name}
    assert all(r.host and r.trial_id and r.candidate_id for r in stored)
    assert len({r.graph_hash for r in stored if r.status != "reused"}) == out.trained
    assert sorted(r.trial_id for r in stored) == sorted(r.trial_id for r in out.results)
    # the store holds the benchmark's recorded values, not something recomputed
    for r in stored[:5]:
        assert r.val_accuracy == evaluator.lookup(r.arch_id).val_accuracy
    best = max(out.results, key=lambda r: r.val_accuracy)
    assert out.best is not None and out.best.val_accuracy == best.val_accuracy
    assert strategy.num_told == 40


def test_store_appends_are_batched(evaluator: TabularEvaluator, tmp_path: Path) -> None:
    space = get_space("nb_macro")
    store = ResultStore(tmp_path / "s")
    run(
        space,
        get_strategy("random", space, seed=0),
        evaluator,
        budget=50,
        store=store,
        checkpoint_every=20,
        checkpoint_interval_s=1e9,
        progress=False,
    )
    assert len(store) == 50
    assert len(store.files()) == 3  # 20 + 20 + the final 10, never one file per query


class FlakyEvaluator:
    """Injects faults on purpose: every third arch raises, alternating error types."""

    def __init__(self, inner: TabularEvaluator) -> None:
        self.inner = inner
        self.dataset = inner.dataset
        self.calls = 0

    def evaluate(self, arch, *, seed, trial_id=None):
        self.calls += 1
        if self.calls % 3 == 0:
            if self.calls % 2:
                raise TrainingError(f"loss went NaN at epoch 3 (call {self.calls})")
            raise ZeroDivisionError("division by zero in a user op")
        return self.inner.evaluate(arch, seed=seed, trial_id=trial_id)


def test_failures_are_recorded_and_the_search_goes_on(
    evaluator: TabularEvaluator, tmp_path: Path
) -> None:
    space = get_space("nb_macro")
    flaky = FlakyEvaluator(evaluator)
    assert isinstance(flaky, Evaluator)
    store = ResultStore(tmp_path / "s")
    strategy = get_strategy("rea", space, seed=1, **OPTIONS["rea"])
    out = run(space, strategy, flaky, budget=30, store=store, progress=False)
    assert len(out.results) == 30 and flaky.calls == out.trained
    failed = [r for r in out.results if r.status == "failed"]
    assert len(failed) == flaky.calls // 3
    errors = {r.error.split(":")[0] for r in failed}
    assert errors == {"TrainingError", "ZeroDivisionError"}
    assert all("\n" not in r.error and r.val_accuracy is None for r in failed)
    assert store.count("status == 'failed'") == len(failed) and len(store) == 30
    statuses = [status for _, status, _ in strategy.results()]
    assert statuses.count("failed") >= len(failed)  # reused failures are told as failures
    assert out.best is not None and out.best.status == "ok"


def test_an_evaluation_error_for_an_arch_outside_the_table_is_a_failed_result() -> None:
    # nb201 archs asked of the NB-Macro table: every lookup raises EvaluationError
    space = get_space("nb201")
    out = run(
        space,
        get_strategy("random", space, seed=0),
        TabularEvaluator(TABLE),
        budget=3,
        progress=False,
    )
    assert [r.status for r in out.results] == ["failed"] * 3
    assert all(r.error.startswith("EvaluationError: Arch") for r in out.results)
    assert out.best is None and out.pareto == []


def test_time_budget_and_exhaustion_end_the_search() -> None:
    space = tiny_space()

    class Widths:
        dataset = "toy"

        def evaluate(self, arch, *, seed, trial_id=None):
            from nas.store import Result

            return Result(
                space=arch.space,
                arch=arch.to_json(),
                arch_id=arch.arch_id,
                dataset="toy",
                status="ok",
                val_accuracy=float(arch["fc.out_features"]),
            )

    out = run(space, get_strategy("random", space, seed=0), Widths(), progress=False)
    assert len(out.results) == space.size() == 6  # no budget: runs until the space is exhausted
    assert out.best.val_accuracy == 32.0
    timed = run(
        get_space("nb_macro"),
        get_strategy("random", get_space("nb_macro"), seed=0),
        TabularEvaluator(TABLE),
        time_budget_s=1e-9,
        progress=False,
    )
    assert timed.results == []


def test_multi_objective_front_and_constraints(evaluator: TabularEvaluator) -> None:
    space = get_space("nb_macro")
    strategy = get_strategy(
        "random",
        space,
        seed=2,
        objectives=[Objective("val_accuracy"), Objective("params", "min")],
        constraints=[Constraint("params", max=1.0e6)],
    )
    out = run(space, strategy, evaluator, budget=120, progress=False)
    ok = [r for r in out.results if r.params <= 1.0e6]
    assert out.pareto and all(r.params <= 1.0e6 for r in out.pareto)
    for member in out.pareto:  # nobody feasible dominates a front member
        assert not any(
            o.val_accuracy >= member.val_accuracy
            and o.params <= member.params
            and (o.val_accuracy, o.params) != (member.val_accuracy, member.params)
            for o in ok
        )
    assert out.best.val_accuracy == max(r.val_accuracy for r in ok)
    # the run's front is the strategy's own, each reused proposal standing for its source
    front = {c.candidate_id for c, _ in strategy.pareto_front()}
    rows = {r.candidate_id: r for r in out.results}
    assert {r.candidate_id for r in out.pareto} == {rows[c].reused_from or c for c in front}


def test_result_metrics_exposes_extra_numbers(evaluator: TabularEvaluator) -> None:
    result = evaluator.lookup(evaluator.arch_ids()[0])
    metrics = result_metrics(result)
    assert metrics["val_accuracy"] == result.val_accuracy
    assert metrics["params"] == float(result.params)
    assert metrics["std_acc"] == json.loads(result.extra)["std_acc"]
    assert "arch_str" not in metrics and "runs" not in metrics  # not numbers


def test_one_pareto_rule_keeps_ties_between_distinct_graphs(evaluator: TabularEvaluator) -> None:
    space = get_space("nb_macro")
    objectives = [Objective("val_accuracy"), Objective("params", "min")]
    strategy = get_strategy("random", space, seed=5, objectives=objectives)
    out = run(space, strategy, evaluator, budget=300, progress=False)
    trained = [r for r in out.results if r.status == "ok"]
    points = [[-r.val_accuracy, r.params] for r in trained]
    expected = {trained[i].candidate_id for i in non_dominated(points)}
    assert {r.candidate_id for r in out.pareto} == expected

"""The driver's promises on real NB-201 data: isomorphic candidates are trained once and their
reuse is stored, every run's rows stay in a shared store, a plain function is an objective."""

from __future__ import annotations

from pathlib import Path

import pytest

from nas.bench import TabularEvaluator
from nas.errors import NasError
from nas.search import FunctionEvaluator, StateError, get_strategy, run
from nas.space import get_space
from nas.store import ResultStore


@pytest.fixture(scope="module")
def nb201():
    return get_space("nb201")


@pytest.fixture(scope="module")
def table() -> TabularEvaluator:
    return TabularEvaluator("nb201-cifar10")


class Counting:
    """The real table, counting the evaluations the driver dispatches."""

    def __init__(self, inner: TabularEvaluator) -> None:
        self.inner, self.dataset, self.archs = inner, inner.dataset, []

    def evaluate(self, arch, *, seed, trial_id=None):
        self.archs.append(arch)
        return self.inner.evaluate(arch, seed=seed, trial_id=trial_id)


def test_isomorphic_proposals_are_trained_once_and_their_reuse_is_stored(
    nb201, table, tmp_path: Path
) -> None:
    counting = Counting(table)  # no graph_hash lookup: the driver compiles each arch itself
    store = ResultStore(tmp_path / "store")
    strategy = get_strategy("rea", nb201, seed=0, population_size=20)
    out = run(nb201, strategy, counting, budget=100, store=store, progress=False)
    rows = store.results()
    graphs = {nb201.compile(r.arch_dict()["values"]).graph_hash() for r in rows}
    assert len(rows) == 100 == out.proposed == strategy.num_told  # rows == proposals
    assert len(counting.archs) == out.trained == len(graphs) < 100  # trained == distinct graphs
    assert len({a.arch_id for a in counting.archs}) == out.trained
    reused = [r for r in rows if r.status == "reused"]
    assert len(reused) == 100 - out.trained
    by_candidate = {r.candidate_id: r for r in rows}
    for r in reused:  # the row names the trial it reused, which has the same graph
        source = by_candidate[r.reused_from]
        assert source.status == "ok" and source.graph_hash == r.graph_hash
        assert source.arch_id != r.arch_id and r.val_accuracy == source.val_accuracy
    # The table's own graph_hash lookup gives the same dedupe without compiling.
    again = run(nb201, get_strategy("rea", nb201, seed=0, population_size=20), table,
                budget=100, progress=False)  # fmt: skip
    assert (again.proposed, again.trained) == (out.proposed, out.trained)


def test_two_runs_into_one_store_keep_every_row_of_both(nb201, table, tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "store")
    first = run(nb201, "rea", table, budget=30, store=store, seed=1, progress=False)
    second = run(nb201, "rea", table, budget=30, store=store, seed=1, progress=False)  # a re-run
    other = run(nb201, "random", table, budget=30, store=store, seed=1, progress=False)
    rows = store.results()
    assert len(rows) == 90 and len(store) == 90
    runs = {first.run_id, second.run_id, other.run_id}
    assert len(runs) == 3 and {r.run_id for r in rows} == runs
    for out in (first, second, other):
        mine = sorted((r.candidate_id, r.arch_id) for r in rows if r.run_id == out.run_id)
        assert mine == sorted((r.candidate_id, r.arch_id) for r in out.results)
    # the re-run made the same proposals as the first run, and both are stored
    assert [r.arch_id for r in first.results] == [r.arch_id for r in second.results]
    assert {r.strategy for r in rows} == {"rea", "random"}


def test_a_plain_function_is_an_objective_and_a_store_path_is_a_store(
    nb201, tmp_path: Path
) -> None:
    calls = []

    def objective(arch):
        calls.append(arch.arch_id)
        graph = nb201.compile(arch)
        return {"val_accuracy": -float(graph.params), "params": graph.params, "depth": 3}

    out = run(nb201, "random", objective, budget=12, store=str(tmp_path / "s"), progress=False)
    rows = ResultStore(tmp_path / "s").results()
    assert len(rows) == 12 and len(calls) == out.trained
    assert out.best is not None and out.best.val_accuracy == max(r.val_accuracy for r in rows)
    assert out.best.params == -out.best.val_accuracy and out.best.extra_dict() == {"depth": 3}
    assert all(r.dataset == "custom" and r.graph_hash for r in rows)

    def broken(arch):
        raise ValueError("no metric for this one")

    failed = run(nb201, "random", FunctionEvaluator(broken, dataset="toy"), budget=3,
                 progress=False)  # fmt: skip
    assert [r.status for r in failed.results] == ["failed"] * 3
    assert all("ValueError: no metric for this one" in r.error for r in failed.results)


def test_in_process_resume_continues_the_run_and_its_id_is_the_directory(
    nb201, table, tmp_path: Path
) -> None:
    store = ResultStore(tmp_path / "store")
    run_dir = tmp_path / "my-run"
    half = run(nb201, "rea", table, budget=20, store=store, run_dir=run_dir, progress=False)
    assert half.run_id == "my-run" and half.proposed == 20
    with pytest.raises(StateError, match="already holds a search"):
        run(nb201, "rea", table, budget=40, store=store, run_dir=run_dir, progress=False)
    full = run(nb201, "rea", table, budget=40, store=store, run_dir=run_dir, resume=True,
               progress=False)  # fmt: skip
    rows = store.results()
    assert len(rows) == 40 == full.proposed and {r.run_id for r in rows} == {"my-run"}
    alone = run(nb201, "rea", table, budget=40, progress=False)
    assert [r.arch_id for r in full.results] == [r.arch_id for r in alone.results]
    with pytest.raises(StateError, match="no search state"):
        run(nb201, "rea", table, budget=5, run_dir=tmp_path / "nothing", resume=True)


def test_bad_arguments_are_one_line_errors(nb201, table) -> None:
    with pytest.raises(NasError, match="budget"):
        run(nb201, "random", table, budget=-1)
    with pytest.raises(NasError, match="executor"):
        run(nb201, "random", table, budget=1, executor="slurm")  # type: ignore[arg-type]
    with pytest.raises(NasError, match="infinite"):
        run(get_space("cnn1d"), "random", table)


class Repeating:
    """A user's own ask/tell strategy (no base class) that proposes every arch twice."""

    name = "repeating"

    def __init__(self, space) -> None:
        self.inner = get_strategy("random", space, seed=7)
        self.objectives = self.inner.objectives
        self.told: dict[str, tuple[str, dict | None]] = {}
        self._pending: list = []
        self._n = 0

    def ask(self, n: int = 1) -> list:
        from nas.search import Candidate

        if not self._pending:
            [c] = self.inner.ask(1)
            self._pending = [c.arch, c.arch]
        self._n += 1
        return [Candidate(f"r{self._n:04d}", self._pending.pop())]

    def tell(self, candidate_id, metrics, *, status="ok") -> None:
        self.told[candidate_id] = (status, metrics)

    def best(self):
        return None

    def pareto_front(self):
        return []

    def state_dict(self):
        return {}

    def load_state_dict(self, state) -> None:
        pass


def test_a_repeated_proposal_is_stored_as_reused_and_told_the_known_result(
    nb201, table, tmp_path: Path
) -> None:
    from nas.search import AskTell

    strategy = Repeating(nb201)
    assert isinstance(strategy, AskTell)
    out = run(nb201, strategy, table, budget=10, store=tmp_path / "s", progress=False)
    rows = sorted(ResultStore(tmp_path / "s").results(), key=lambda r: r.candidate_id)
    assert len(rows) == 10 and out.trained == 5
    assert [r.status for r in rows] == ["ok", "reused"] * 5
    for first, again in zip(rows[::2], rows[1::2]):
        assert again.arch_id == first.arch_id and again.reused_from == first.candidate_id
        assert strategy.told[again.candidate_id] == strategy.told[first.candidate_id]


def test_a_twin_of_a_running_trial_waits_for_it_and_is_answered_when_it_ends(nb201, table) -> None:
    from nas.search._driver import Driver
    from nas.search._state import RunState

    strategy = Repeating(nb201)  # proposes each arch twice in a row
    state = RunState(
        run_id="r", space="nb201", dataset=table.dataset, strategy_name="repeating", budget=4,
        seed=0,
    )  # fmt: skip
    driver = Driver(nb201, strategy, table, state)
    first = driver.next_trial()  # running (as on Ray, several trials at once)
    other = driver.next_trial()  # its twin waits; the driver hands out the next arch instead
    assert first is not None and other is not None and other.arch != first.arch
    assert len(state.proposals) == 3 and strategy.told == {}
    driver.complete(first.candidate_id, table.evaluate(first.arch, seed=0))
    twin = driver.rows["r0002"]
    assert twin.status == "reused" and twin.reused_from == first.candidate_id
    assert strategy.told["r0002"] == strategy.told[first.candidate_id]
    driver.complete(other.candidate_id, table.evaluate(other.arch, seed=0))
    assert driver.next_trial() is None  # the fourth proposal is the other's twin: reused
    assert [r.status for r in driver.outcome(0.0, interrupted=False).results] == [
        "ok", "reused", "ok", "reused",
    ]  # fmt: skip

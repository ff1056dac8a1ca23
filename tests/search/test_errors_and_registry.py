"""Misuse raises clear errors; the registry takes user strategies like the built-ins."""

from __future__ import annotations

import subprocess
import sys

import pytest

from nas.errors import NasError, RegistryError
from nas.search import (
    Constraint,
    Objective,
    SearchError,
    Strategy,
    get_strategy,
    list_strategies,
    register_strategy,
)
from nas.search._registry import _STRATEGIES
from nas.space import Arch

from .helpers import make, space_named


def test_tell_unknown_or_repeated_candidate() -> None:
    strategy = make("rea", space_named("nb201"))
    [c] = strategy.ask()
    with pytest.raises(SearchError, match="Unknown candidate id 'nope'"):
        strategy.tell("nope", {"val_accuracy": 1.0})
    strategy.tell(c.candidate_id, {"val_accuracy": 1.0})
    with pytest.raises(SearchError, match="already told"):
        strategy.tell(c.candidate_id, {"val_accuracy": 2.0})


def test_tell_ok_without_objective_or_constraint_metric() -> None:
    strategy = make("random", space_named("nb201"), constraints=[Constraint("params", max=1e6)])
    a, b = strategy.ask(2)
    with pytest.raises(SearchError, match="without metric 'val_accuracy'"):
        strategy.tell(a.candidate_id, {"val_loss": 0.1, "params": 1.0})
    with pytest.raises(SearchError, match="without metric 'params'"):
        strategy.tell(a.candidate_id, {"val_accuracy": 0.1})
    with pytest.raises(SearchError, match="Unknown status 'weird'"):
        strategy.tell(a.candidate_id, None, status="weird")
    strategy.tell(a.candidate_id, None, status="failed")  # metrics may be absent when failed
    assert strategy.pending == [b.candidate_id]


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: Objective("acc", "up"), "direction must be 'max' or 'min'"),
        (lambda: Constraint("params"), "needs max=, min= or both"),
        (lambda: Constraint("params", max=1.0, min=2.0), "min <= max"),
        (lambda: make("rea", space_named("nb201"), populaton_size=3), "Unknown option"),
        (lambda: make("rea", space_named("nb201"), population_size=0), "population_size"),
        (lambda: make("ls", space_named("nb201"), num_init=0), "num_init"),
        (lambda: make("random", space_named("nb201"), objectives=[]), "non-empty"),
        (lambda: make("random", space_named("nb201"), seed="1"), "seed must be an int"),
    ],
)
def test_bad_configuration_raises(build, match: str) -> None:
    with pytest.raises(SearchError, match=match) as info:
        build()
    assert isinstance(info.value, NasError) and isinstance(info.value, ValueError)


def test_state_of_another_strategy_or_space_is_rejected() -> None:
    rea = make("rea", space_named("nb201"))
    rea.ask(2)
    state = rea.state_dict()
    with pytest.raises(SearchError, match="strategy='rea'"):
        make("ls", space_named("nb201")).load_state_dict(state)
    with pytest.raises(SearchError, match="space='nb201'"):
        make("rea", space_named("nb_macro")).load_state_dict(state)
    with pytest.raises(SearchError, match="objectives"):
        make("rea", space_named("nb201"), objectives=["test_accuracy"]).load_state_dict(state)
    with pytest.raises(SearchError, match="Not a strategy state"):
        make("rea", space_named("nb201")).load_state_dict({"format": 99})


def test_unknown_strategy_suggests_close_names() -> None:
    with pytest.raises(RegistryError, match="did you mean 'rea'"):
        get_strategy("reaa", "nb201")


def test_user_strategy_registers_like_a_builtin() -> None:
    @register_strategy("in_order_test")
    class InOrder(Strategy):
        """Proposes a finite space in enumeration order."""

        def _propose(self, candidate_id: str) -> Arch | None:
            return next((a for a in self.space.enumerate() if not self._seen(a)), None)

    try:
        assert "in_order_test" in list_strategies()
        with pytest.raises(RegistryError, match="already registered"):
            register_strategy("in_order_test")(InOrder)
        strategy = get_strategy("in_order_test", space_named("tiny"), seed=0)
        assert strategy.name == "in_order_test"
        got = [c.arch for c in strategy.ask(10)]
        assert got == list(space_named("tiny").enumerate())
        state = strategy.state_dict()
        again = get_strategy("in_order_test", space_named("tiny"))
        again.load_state_dict(state)
        assert again.ask(1) == []
    finally:
        _STRATEGIES.unregister("in_order_test")


def test_register_rejects_non_strategies() -> None:
    with pytest.raises(SearchError, match="decorates Strategy subclasses"):
        register_strategy("not_a_strategy")(int)  # type: ignore[arg-type]


def test_importing_search_pulls_no_heavy_libraries() -> None:
    code = (
        "import sys, nas.search, nas.search._optuna; "
        "print(sorted(m for m in ('ray', 'pyarrow', 'optuna', 'torch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "ray" not in out.stdout and "pyarrow" not in out.stdout and "optuna" not in out.stdout

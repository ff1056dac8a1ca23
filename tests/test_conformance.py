"""Every registered space, strategy and op through the checks ``nas.testing`` offers users.

Parametrized over the registries at collection time, so a space, strategy or op that
registers (entry point or ``register_*``) is checked without editing this file.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import Any

import numpy as np
import pytest

from nas.graph import get_op, list_ops, register_op, unregister_op
from nas.search import RandomSearch, get_strategy, list_strategies
from nas.space import Arch, get_space, list_spaces
from nas.testing import ConformanceError, check_op, check_space, check_strategy

from .graph._graph_cases import OP_CASES  # also registers the user op "scale"
from .space.custom_spaces import CUSTOM_SPACES

# Small populations and models so every phase of a strategy runs within a few dozen asks.
STRATEGY_OPTIONS: dict[str, dict[str, Any]] = {
    "rea": {"population_size": 4, "sample_size": 2},
    "ls": {"num_init": 3},
    "tpe": {"n_startup_trials": 4},
    "nsga2": {"population_size": 4},
    "predictor": {
        "n_initial": 4,
        "pool_size": 20,
        "refit_every": 4,
        "model": {"hidden": 8, "layers": 1, "emb_dim": 8, "epochs": 2, "n_clusters": 2},
    },
}
N_ARY_CASES: dict[str, list[tuple[int, ...]]] = {
    "add": [(4, 6, 6), (4, 6, 6), (4, 6, 6)],
    "mul": [(4, 6, 6), (4, 1, 1)],
    "concat": [(4, 6, 6), (3, 6, 6)],
}


def _marked(names: list[str], slow: set[str]) -> list[Any]:
    """``names`` as parameters, those in ``slow`` (measured over 2 s here) marked ``slow``."""
    return [pytest.param(n, marks=pytest.mark.slow) if n in slow else n for n in names]


# Measured with --durations on a 2-core CPU: these take 2-45 s each; the rest about 1 s or less.
SLOW_SPACES = {"cnn1d", "mobilenet", "nb101", "nb201", "nb201_c100", "nb301", "resnet"}
SLOW_SPACES |= {"hat_subtransformer"}  # ~80 s: a 60-80M-parameter net through ONNX Runtime
SLOW_SPACES |= {
    f"tnb101_{kind}_{task}" for kind in ("micro", "macro") for task in ("object", "scene")
}
SLOW_STRATEGIES = {"predictor"}


@pytest.mark.parametrize("name", _marked(list_spaces(), SLOW_SPACES))
def test_registered_space_conforms(name: str) -> None:
    check_space(get_space(name), samples=3)


@pytest.mark.parametrize("name", list(CUSTOM_SPACES))
def test_custom_space_conforms(name: str) -> None:
    check_space(CUSTOM_SPACES[name](), samples=3)


def _factory(name: str) -> partial:
    return partial(get_strategy, name, **STRATEGY_OPTIONS.get(name, {}))


@pytest.mark.parametrize("name", _marked(list_strategies(), SLOW_STRATEGIES))
def test_registered_strategy_conforms(name: str) -> None:
    check_strategy(_factory(name))


@pytest.mark.parametrize("space", ["nb201", "cnn1d"])
@pytest.mark.parametrize("name", _marked(list_strategies(), SLOW_STRATEGIES))
def test_registered_strategy_conforms_on_a_large_space(name: str, space: str) -> None:
    check_strategy(_factory(name), space=get_space(space), steps=16)


@pytest.mark.parametrize("name", list_ops())
def test_registered_op_conforms(name: str) -> None:
    if name in N_ARY_CASES:
        check_op(name, N_ARY_CASES[name])
        return
    if name not in OP_CASES:
        pytest.fail(f"op {name!r} has no conformance case; add one to tests/graph/_graph_cases.py")
    shape, attrs = OP_CASES[name]
    check_op(name, shape, **attrs)


# ----------------------------------------------------------------------------- the checks fail
def test_check_op_names_a_wrong_param_rule() -> None:
    bad = replace(get_op("linear"), name="bad_linear", params=lambda s, o, a: 1)
    register_op(bad)
    try:
        with pytest.raises(ConformanceError, match=r"op .bad_linear.*IR params == torch params"):
            check_op("bad_linear", (4, 10), out_features=3)
    finally:
        unregister_op("bad_linear")


def test_check_space_names_a_mutation_that_changes_two_decisions() -> None:
    space = CUSTOM_SPACES["t_cells"]()

    def scramble(arch: Arch, rng: np.random.Generator) -> Arch:
        while True:  # a "mutation" that redraws at least two decisions
            other = space.sample(rng)
            if sum(other.values.get(k) != v for k, v in arch.values.items()) >= 2:
                return other

    space.mutate = scramble  # type: ignore[method-assign]
    with pytest.raises(ConformanceError, match=r"mutate\(\) changes exactly one active decision"):
        check_space(space, onnx=False)


class _Unseeded(RandomSearch):
    """Draws from a fresh, unseeded generator: proposals do not follow the seed."""

    name = "unseeded"

    def _propose(self, candidate_id: str) -> Arch | None:
        self.rng = np.random.default_rng()
        return super()._propose(candidate_id)


def test_check_strategy_names_an_unseeded_strategy() -> None:
    from nas.space import Choice, Op, Seq, Space

    space = Space(
        "wide", Seq(fc=Op("linear", out_features=Choice(list(range(1, 200))))), input_shape=(4,)
    )
    with pytest.raises(ConformanceError, match="the same seed proposes the same archs"):
        check_strategy(lambda space, seed: _Unseeded(space, seed=seed), space=space, steps=10)


# ----------------------------------------------------------------------------- token-id inputs
def test_check_space_feeds_valid_token_ids_to_an_embedding() -> None:
    from nas.space import Choice, Op, Seq, Space

    space = Space(
        "tokens",
        Seq(
            src=Op("slice", axis=0, start=2, end=8),
            embed=Op("embedding", vocab=Choice([3, 5]), dim=4),
            pool=Op("token_mean"),
            head=Op("linear", out_features=2),
        ),
        input_shape=(8,),
    )
    check_space(space, samples=2)  # normal floats would index out of range (or below 0)


def test_random_inputs_draw_ids_below_the_smallest_vocab_an_input_reaches() -> None:
    import torch

    from nas.graph import Graph
    from nas.graph.onnx_backend import id_bounds, random_inputs

    g = Graph("two_inputs")
    ids, signal = g.add_input((6,), name="ids"), g.add_input((6,), name="signal")
    small = g.add("embedding", g.add("slice", ids, axis=0, start=0, end=3), vocab=4, dim=2)
    large = g.add("embedding", ids, vocab=1000, dim=2)
    out = g.add("embedding", g.add("relu", g.add("linear", signal, out_features=3)), vocab=9, dim=2)
    g.set_outputs(small, large, out)
    assert id_bounds(g) == {"ids": 4, "signal": 9}
    x, y = random_inputs(g, 500, torch.Generator().manual_seed(0))
    assert x.dtype == y.dtype == torch.float32  # every IR input is float
    assert set(x.unique().tolist()) == {0.0, 1.0, 2.0, 3.0}
    assert set(y.unique().tolist()) == {float(i) for i in range(9)}
    plain = Graph("plain")
    plain.set_outputs(plain.add("relu", plain.add_input((6,))))
    (z,) = random_inputs(plain, 500, torch.Generator().manual_seed(0))
    assert id_bounds(plain) == {} and bool((z < 0).any() and (z != z.round()).any())

"""Property tests of the DSL on built-in and custom spaces (Hypothesis drives the seeds)."""

from __future__ import annotations

import json
import pickle

import numpy as np
import optuna
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nas.space import Arch, Space, get_space, list_spaces

from .custom_spaces import CUSTOM_SPACES

BUILTIN = ["nb201", "nb_macro", "mobilenet", "resnet", "cnn1d", "mlp"]
ALL = BUILTIN + list(CUSTOM_SPACES)

seeds = st.integers(min_value=0, max_value=2**32 - 1)
common = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def space_named(name: str) -> Space:
    return CUSTOM_SPACES[name]() if name in CUSTOM_SPACES else get_space(name)


def test_builtins_are_registered() -> None:
    assert set(BUILTIN) <= set(list_spaces())


@pytest.mark.parametrize("name", ALL)
@common
@given(seed=seeds)
def test_sample_is_contained_and_canonical(name: str, seed: int) -> None:
    space = space_named(name)
    arch = space.sample(np.random.default_rng(seed))
    assert space.contains(arch)
    assert space.validate(arch.values) == arch
    assert set(arch.values) <= set(space.decisions)


@pytest.mark.parametrize("name", ALL)
@common
@given(seed=seeds)
def test_json_and_encoding_round_trips(name: str, seed: int) -> None:
    space = space_named(name)
    arch = space.sample(np.random.default_rng(seed))
    again = Arch.from_json(arch.to_json())
    assert again == arch and again.arch_id == arch.arch_id
    assert space.validate(json.loads(arch.to_json())["values"]) == arch
    vector = space.encode(arch)
    assert vector.shape == (len(space.decisions),)
    assert space.decode(vector) == arch
    hot = space.encode(arch, onehot=True)
    assert np.all((hot >= 0) & (hot <= 1))


@pytest.mark.parametrize("name", ALL)
@common
@given(seed=seeds)
def test_mutate_changes_exactly_one_active_decision(name: str, seed: int) -> None:
    space = space_named(name)
    rng = np.random.default_rng(seed)
    arch = space.sample(rng)
    child = space.mutate(arch, rng)
    assert space.contains(child)
    shared = set(arch.values) & set(child.values)
    changed = [k for k in shared if arch.values[k] != child.values[k]]
    assert len(changed) == 1, changed


@pytest.mark.parametrize("name", ALL)
@settings(max_examples=5, deadline=None)
@given(seed=seeds)
def test_neighbors_are_valid_and_one_step_away(name: str, seed: int) -> None:
    space = space_named(name)
    arch = space.sample(np.random.default_rng(seed))
    neighbors = space.neighbors(arch)
    assert neighbors
    assert len({n.arch_id for n in neighbors}) == len(neighbors)
    for nb in neighbors[:20]:
        assert space.contains(nb)
        shared = set(arch.values) & set(nb.values)
        assert sum(arch.values[k] != nb.values[k] for k in shared) == 1


@pytest.mark.parametrize("name", ALL)
def test_space_json_round_trip(name: str) -> None:
    space = space_named(name)
    again = Space.from_json(space.to_json())
    assert again.to_json() == space.to_json()
    assert again.size() == space.size()
    assert list(again.decisions) == list(space.decisions)
    rng_a, rng_b = np.random.default_rng(7), np.random.default_rng(7)
    for _ in range(5):
        a, b = space.sample(rng_a), again.sample(rng_b)
        assert a == b
        assert space.compile(a).graph_hash() == again.compile(b).graph_hash()


@pytest.mark.parametrize("name", ALL)
@settings(max_examples=10, deadline=None)
@given(seed=seeds)
def test_compile_is_deterministic_and_validates(name: str, seed: int) -> None:
    space = space_named(name)
    arch = space.sample(np.random.default_rng(seed))
    g1, g2 = space.compile(arch), space.compile(arch)
    g1.validate()
    assert g1.to_text() == g2.to_text()
    assert g1.graph_hash() == g2.graph_hash()
    assert g1.shape(g1.outputs[0])[0] > 0


@pytest.mark.parametrize("name", ALL)
def test_optuna_define_by_run_gives_valid_archs(name: str) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = space_named(name)
    study = optuna.create_study(
        sampler=optuna.samplers.TPESampler(seed=0, multivariate=True, group=True)
    )
    for i in range(12):
        trial = study.ask()
        arch = space.suggest(trial)
        assert space.contains(arch)
        assert set(trial.params) == set(arch.values)
        study.tell(trial, float(i % 5))


@pytest.mark.parametrize("name", ALL)
def test_space_pickles_after_use(name: str) -> None:
    space = space_named(name)
    arch = space.sample(np.random.default_rng(5))  # fills the nodes' caches
    again = pickle.loads(pickle.dumps(space))
    assert again.sample(np.random.default_rng(5)) == arch and again.size() == space.size()


def test_samples_do_not_touch_global_random_state() -> None:
    space = get_space("cnn1d")
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    space.sample(np.random.default_rng(0))
    assert np.array_equal(before, np.random.get_state()[1])

"""The fast sample / mutate / neighbors paths propose exactly what the tree walk proposes.

The reference is the same space with its shortcuts replaced by the tree walks (validate the
arch with a walk, change one value, walk again keeping what is still valid); the space's own
methods skip the walks when the changed decision activates nothing. Same seed, same
proposals, every space.
"""

from __future__ import annotations

import copy
import functools
import itertools
from typing import Any
from unittest import mock

import numpy as np
import pytest

from nas.errors import ArchError
from nas.space import Arch, Choice, Space, _node, get_space, list_spaces
from nas.space._context import BuildContext, Resolver, keep_or_fill
from nas.space._node import walk

SPACES = list_spaces()


def walking(space: Space) -> Space:
    """A copy of ``space`` with every shortcut replaced by the tree walk it skips: every
    decision is resolved by walking the tree (flat spaces too), an arch is validated with a
    walk before each move, and after the move a walk keeps the values still valid and fills
    the rest. The walk visits every node (no subtree's named decisions taken as a list)."""
    ref = copy.copy(space)

    def decide(resolver: Resolver) -> Arch:
        ctx = BuildContext(resolver)
        with mock.patch.object(_node, "named_decisions", lambda element: None):
            walk(ref._parts, ctx, "")
        return ref._walked(ctx.bound)

    def changed(values: dict[str, Any], key: str, rng: np.random.Generator | None) -> Arch:
        return ref._decide(functools.partial(keep_or_fill, values, rng))

    ref._decide = decide  # type: ignore[method-assign]
    ref._valid = ref.validate  # type: ignore[method-assign]
    ref._changed = changed  # type: ignore[method-assign]
    return ref


@pytest.mark.parametrize("name", SPACES)
def test_sample_and_mutate_chains_match_the_walk(name: str) -> None:
    space = get_space(name)
    reference = walking(space)
    for seed in range(20):
        fast_rng, walk_rng = np.random.default_rng(seed), np.random.default_rng(seed)
        fast, ref = space.sample(fast_rng), reference.sample(walk_rng)
        assert fast.values == ref.values and fast.arch_id == ref.arch_id
        for _ in range(15):  # a chain: each child is the next parent, as in evolution
            fast, ref = space.mutate(fast, fast_rng), reference.mutate(ref, walk_rng)
            assert list(fast.values.items()) == list(ref.values.items())
            assert fast.arch_id == ref.arch_id and fast.to_json() == ref.to_json()
            assert space.validate(fast) == fast
        assert fast_rng.integers(1 << 30) == walk_rng.integers(1 << 30)  # same draws used


@pytest.mark.parametrize("name", SPACES)
def test_neighbors_match_the_walk(name: str) -> None:
    space = get_space(name)
    rng = np.random.default_rng(7)
    for _ in range(3):
        arch = space.sample(rng)
        fast = space.neighbors(arch)
        assert [a.arch_id for a in fast] == [a.arch_id for a in walking(space).neighbors(arch)]
        assert all(space.contains(a) for a in fast)


@pytest.mark.parametrize("name", SPACES)
def test_validate_enumerate_and_decode_match_the_walk(name: str) -> None:
    space, reference = get_space(name), walking(get_space(name))
    rng = np.random.default_rng(3)
    for arch in (space.sample(rng) for _ in range(10)):
        values = dict(arch.values)
        assert space.validate(values).to_json() == reference.validate(values).to_json()
        code = space.encode(arch)
        assert space.decode(code) == reference.decode(code) == arch
    if space.size() is not None:
        fast, ref = (
            itertools.islice(space.enumerate(), 300),
            itertools.islice(reference.enumerate(), 300),
        )
        assert [a.arch_id for a in fast] == [a.arch_id for a in ref]


def test_an_arch_the_space_did_not_build_is_still_validated() -> None:
    space = get_space("nb201")
    arch = space.sample(np.random.default_rng(0))
    key = next(iter(arch.values))
    forged = Arch(space.name, space.version, {**arch.values, key: "sep_conv_9x9"}, arch.fingerprint)
    with pytest.raises(ArchError, match=key):
        space.mutate(forged, np.random.default_rng(0))
    # a JSON round trip drops the mark: validated once, then mutated as usual
    again = Arch.from_json(arch.to_json())
    assert space.mutate(again, np.random.default_rng(1)) == space.mutate(
        arch, np.random.default_rng(1)
    )


@pytest.mark.parametrize(
    "labels", [[3, 5, 7], [1, 2], [1.0, 2.5], ["a"], [(1, 2), (3,), ()], [None, "x", 0.5]]
)
def test_choice_mutate_draws_what_picking_a_neighbor_draws(labels: list) -> None:
    choice = Choice(labels)
    for value in [*choice.values(), True, "absent", (1, 2)]:
        for seed in range(10):
            fast, ref = np.random.default_rng(seed), np.random.default_rng(seed)
            others = choice.neighbors(value)
            expected = others[int(ref.integers(len(others)))] if others else value
            got = choice.mutate(value, fast)
            assert got == expected and type(got) is type(expected)
            assert fast.integers(1 << 30) == ref.integers(1 << 30)  # same draws used

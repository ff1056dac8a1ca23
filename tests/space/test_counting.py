"""Exact counting and lazy enumeration, including conditional and shared decisions."""

from __future__ import annotations

import itertools

import pytest

from nas.space import Choice, IntRange, Op, Repeat, Seq, Space, get_space

from .custom_spaces import cell_space, conditional_space, finite_conditional_space


@pytest.mark.parametrize("factory", [finite_conditional_space, cell_space])
def test_count_equals_enumeration(factory) -> None:  # type: ignore[no-untyped-def]
    space = factory()
    archs = list(space.enumerate())
    assert len(archs) == space.size()
    assert len({a.arch_id for a in archs}) == len(archs)
    assert all(space.contains(a) for a in archs[:: max(1, len(archs) // 50)])


def test_conditional_count_by_hand() -> None:
    # depth 0: 1; depth 1: (conv 2*2 + res 1) * act 2 = 10; depth 2: 5 * 5 * 2 = 50; x2 epochs
    assert finite_conditional_space().size() == (1 + 10 + 50) * 2
    assert finite_conditional_space().size(include_recipe=False) == 61


def test_shared_decision_counted_once() -> None:
    width = Choice([8, 16, 32], name="width")
    body = Seq(*[Op("linear", out_features=width) for _ in range(4)])
    space = Space("t_shared", body, input_shape=(5,))
    assert space.size() == 3
    assert len(list(space.enumerate())) == 3


def test_named_depth_shared_between_repeats() -> None:
    depth = IntRange(1, 3, name="depth")
    block = Op("linear", out_features=Choice([4, 8]))
    space = Space("t_depth", Seq(a=Repeat(block, depth), b=Repeat(block, depth)), input_shape=(3,))
    expected = sum(2 ** (2 * d) for d in (1, 2, 3))
    assert space.size() == expected == len(list(space.enumerate()))


def test_continuous_space_is_infinite() -> None:
    space = conditional_space()
    assert space.size() is None
    assert space.size(include_recipe=False) == 61


@pytest.mark.parametrize(
    ("name", "size"),
    [("nb201", 5**6), ("nb_macro", 3**8), ("resnet", 24**3), ("mobilenet", 3 * 54**4)],
)
def test_builtin_sizes(name: str, size: int) -> None:
    assert get_space(name).size() == size


def test_enumeration_is_lazy() -> None:
    space = get_space("mobilenet")  # 25 million archs: taking a few must be instant
    first = list(itertools.islice(space.enumerate(), 5))
    assert len({a.arch_id for a in first}) == 5

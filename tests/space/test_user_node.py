"""A user's own node classes, defined here (outside ``nas``), work like built-in ones:
they compile, count, enumerate, mutate and round-trip through space and arch JSON."""

from __future__ import annotations

import json
import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from nas.errors import NasError, RegistryError, SpaceError
from nas.graph import Graph
from nas.space import (
    Arch,
    BuildContext,
    Choice,
    Node,
    Op,
    Part,
    Seq,
    Space,
    register_node,
    subpath,
)


@register_node
@dataclass(frozen=True, eq=False)
class Gated(Node):
    """``act(linear(x)) * sigmoid(linear(x))`` then ``body``: parts come from the fields."""

    width: Any
    act: Any = "relu"
    body: Node | None = None

    def build(self, ctx: BuildContext, graph: Graph, path: str, x: str) -> str:
        width = ctx.value(subpath(path, "width"), self.width)
        act = ctx.value(subpath(path, "act"), self.act)
        h = graph.add("linear", [x], name=subpath(path, "fc"), out_features=width)
        h = graph.add(act, [h], name=subpath(path, "act"))
        g = graph.add("linear", [x], name=subpath(path, "gate_fc"), out_features=width)
        g = graph.add("sigmoid", [g], name=subpath(path, "gate"))
        y = graph.add("mul", [h, g], name=subpath(path, "mul"))
        return self.body.build(ctx, graph, subpath(path, "body"), y) if self.body else y


ON_OFF = Choice([False, True])


@register_node
@dataclass(frozen=True, eq=False)
class Maybe(Node):
    """``child`` or the identity; the child's decisions are active only when it is on."""

    child: Node
    on: Any = ON_OFF

    def parts(self) -> Sequence[Part]:
        return [Part("on", self.on, then=lambda on: [Part("child", self.child)] if on else [])]

    def build(self, ctx: BuildContext, graph: Graph, path: str, x: str) -> str:
        if not ctx.value(subpath(path, "on"), self.on):
            return x
        return self.child.build(ctx, graph, subpath(path, "child"), x)


def user_space() -> Space:
    block = Gated(
        width=Choice([4, 8]),
        act=Choice(["relu", "gelu"]),
        body=Op("linear", out_features=Choice([6, 10])),
    )
    extra = Maybe(Op("linear", out_features=Choice([3, 5, 7])))
    # Children named like fields of other nodes ("key", "name", "type") are children.
    body = Seq(block=block, key=Op("relu"), extra=extra, type=Op("linear", out_features=2))
    return Space("t_user", body, input_shape=(5,))


def test_decisions_and_count_come_from_the_parts() -> None:
    space = user_space()
    assert list(space.decisions) == [
        "block.width",
        "block.act",
        "block.body.out_features",
        "extra.on",
        "extra.child.out_features",
    ]
    expected = 2 * 2 * 2 * (1 + 3)  # the child's 3 widths count only when it is on
    assert space.size() == expected == len({a.arch_id for a in space.enumerate()})


def test_compiles_with_every_named_child() -> None:
    space = user_space()
    arch = space.arch(
        {
            "block.width": 8,
            "block.act": "gelu",
            "block.body.out_features": 10,
            "extra.on": True,
            "extra.child.out_features": 7,
        }
    )
    graph = space.compile(arch)
    graph.validate()
    assert graph.node("block.act").op == "gelu" and graph.node("block.fc").shape == (8,)
    assert graph.node("key").op == "relu"  # a child named "key" is not dropped
    assert graph.node("extra.child").shape == (7,)
    assert graph.shape(graph.outputs[0]) == (2,)
    values = dict(arch.values)
    values["extra.on"] = False
    del values["extra.child.out_features"]  # inactive when the child is off
    assert "extra.child" not in space.compile(values).nodes()


def test_mutate_and_neighbours_stay_in_the_space() -> None:
    space = user_space()
    rng = np.random.default_rng(3)
    for _ in range(20):
        arch = space.sample(rng)
        child = space.mutate(arch, rng)
        assert space.contains(child) and child != arch
        shared = set(arch.values) & set(child.values)
        assert sum(arch.values[k] != child.values[k] for k in shared) == 1
        assert all(space.contains(n) for n in space.neighbors(arch))


def test_space_and_arch_json_round_trip() -> None:
    space = user_space()
    text = space.to_json()
    items = json.loads(text)["body"]["items"]  # a child named "type" is wrapped, not lost
    assert items["type"] == "dict" and list(items["items"]) == ["block", "key", "extra", "type"]
    assert '"type": "Gated"' in text and '"type": "Maybe"' in text
    again = Space.from_json(text)
    assert again.to_json() == text
    assert list(again.decisions) == list(space.decisions) and again.size() == space.size()
    rng_a, rng_b = np.random.default_rng(11), np.random.default_rng(11)
    for _ in range(10):
        a, b = space.sample(rng_a), again.sample(rng_b)
        assert a == b and space.compile(a).graph_hash() == again.compile(b).graph_hash()
        loaded = Arch.from_json(a.to_json())
        assert loaded == a and loaded.arch_id == a.arch_id
        assert again.validate(loaded) == a
    copy = pickle.loads(pickle.dumps(space))  # Maybe's parts hold a lambda: not pickled
    assert copy.sample(np.random.default_rng(11)) == space.sample(np.random.default_rng(11))


def test_registry_refuses_duplicates_and_suggests_close_names() -> None:
    with pytest.raises(RegistryError, match="already registered"):
        register_node(Gated)
    bad = user_space().to_json().replace('"type": "Gated"', '"type": "Gatd"')
    with pytest.raises(NasError, match=r"Space JSON at body.items.block: .*did you mean 'Gated'"):
        Space.from_json(bad)


def test_unregistered_node_and_reserved_field_are_one_line_errors() -> None:
    @dataclass(frozen=True, eq=False)
    class Unlisted(Node):
        width: int

        def build(self, ctx: BuildContext, graph: Graph, path: str, x: str) -> str:
            return graph.add("linear", [x], name=path, out_features=self.width)

    space = Space("t_unlisted", Seq(a=Unlisted(3)), input_shape=(4,))
    assert space.size() == 1 and space.compile({}).shape("a") == (3,)
    for needs_json in (space.to_json, lambda: space.sample(np.random.default_rng(0))):
        # an arch_id hashes the space's JSON structure, so archs need it too
        with pytest.raises(
            SpaceError, match=r"Unlisted is not a registered node type.*register_node"
        ):
            needs_json()

    @dataclass(frozen=True, eq=False)
    class Typed(Node):
        type: str

    with pytest.raises(SpaceError, match="field named 'type'"):
        register_node(Typed)

    class Twice(Gated):
        def parts(self) -> Sequence[Part]:
            return [Part("width", self.width), Part("width", self.act)]

    with pytest.raises(SpaceError, match=r"Twice.parts\(\) lists key 'width' twice"):
        Space("t_twice", Twice(Choice([1, 2]), Choice(["relu", "gelu"])), input_shape=(3,))

"""Leaves of the tree: one op, small fixed blocks built from registry ops, the recipe."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nas.errors import SpaceError
from nas.space._decisions import Choice, Decision
from nas.space._exprs import SamePadding, make_divisible
from nas.space._json import register_node
from nas.space._node import Element, Node, Part, subpath

if TYPE_CHECKING:
    from nas.graph import Graph
    from nas.space._context import BuildContext

__all__ = ["Op", "Project", "Recipe", "SqueezeExcite"]


def _check_op_name(op: Any) -> None:
    from nas.graph import get_op  # the registry is the single source of truth for op names

    names = op.labels if isinstance(op, Choice) else (op,)
    for name in names:
        if not isinstance(name, str):
            raise SpaceError(f"An op name must be a str (got {name!r}).")
        get_op(name)  # raises RegistryError with close matches for an unknown op


@register_node
@dataclass(frozen=True, eq=False, init=False)
class Op(Node):
    """One atomic op of the IR graph; attributes may be values, decisions or expressions.

    The op name itself may be a :class:`Choice` over op names (e.g. the activation). Every
    keyword is an attribute of the op, whatever its name.

    Example:
        >>> conv = Op("conv2d", out_channels=Choice([16, 32]), kernel_size=3, padding=1)
    """

    op: Any
    attrs: Mapping[str, Any]

    def __init__(self, op: Any, /, **attrs: Any) -> None:
        _check_op_name(op)
        object.__setattr__(self, "op", op)
        object.__setattr__(self, "attrs", dict(attrs))

    def __repr__(self) -> str:
        return f"Op({self.op!r}, {', '.join(f'{k}={v!r}' for k, v in self.attrs.items())})"

    def parts(self) -> Sequence[Part]:
        fields = {"op": self.op, **self.attrs} if isinstance(self.op, Decision) else self.attrs
        return [Part(k, v) for k, v in fields.items() if _searched(v)]

    def spec(self) -> dict[str, Any]:
        return {"op": self.op, "attrs": dict(self.attrs)}

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> Op:
        return cls(spec["op"], **dict(spec.get("attrs") or {}))

    def build(self, ctx: BuildContext, graph: Graph, path: str, x: str) -> str:
        op = ctx.value(subpath(path, "op"), self.op)
        attrs = self.attrs
        plain = self.__dict__.get("_plain")
        if plain is None:  # attributes never change: check once
            plain = self.__dict__["_plain"] = not any(map(_searched, attrs.values()))
        if not plain:
            in_shape = graph.shape(x)
            attrs = {k: ctx.value(subpath(path, k), v, in_shape) for k, v in attrs.items()}
            for k, v in attrs.items():
                if isinstance(v, SamePadding):  # needs the resolved kernel size and dilation
                    attrs[k] = v.padding(attrs)
        return graph.add(op, x, name=path or op, **attrs)


def _searched(value: Any) -> bool:
    return isinstance(value, Decision | Element)


@register_node
@dataclass(frozen=True, eq=False)
class SqueezeExcite(Node):
    """Squeeze-and-excitation built from registry ops: global pool (kept dims) -> 1x1 conv
    (reduce) -> ReLU -> 1x1 conv (expand) -> sigmoid -> multiply with the input.

    ``enabled`` may be a decision (SE on/off); when off the node is the identity.
    """

    reduction: int = 4
    divisor: int = 8
    enabled: Any = True

    def build(self, ctx: BuildContext, graph: Graph, path: str, x: str) -> str:
        if not ctx.value(subpath(path, "enabled"), self.enabled):
            return x
        channels = graph.shape(x)[0]
        squeezed = make_divisible(channels / self.reduction, self.divisor)
        conv = "conv1d" if len(graph.shape(x)) == 2 else "conv2d"
        s = graph.add("global_avg_pool", [x], name=subpath(path, "pool"), keepdim=True)
        s = graph.add(
            conv, [s], name=subpath(path, "reduce"), out_channels=squeezed, kernel_size=1, bias=True
        )
        s = graph.add("relu", [s], name=subpath(path, "relu"))
        s = graph.add(
            conv, [s], name=subpath(path, "expand"), out_channels=channels, kernel_size=1, bias=True
        )
        s = graph.add("sigmoid", [s], name=subpath(path, "gate"))
        return graph.add("mul", [x, s], name=subpath(path, "scale"))


@register_node
@dataclass(frozen=True, eq=False)
class Project(Node):
    """Identity when the input already has ``out_channels`` and ``stride`` is 1; otherwise a
    1x1 conv with that stride plus batch norm (the "identity" layer of NAS-Bench-Macro)."""

    out_channels: Any
    stride: int = 1

    def build(self, ctx: BuildContext, graph: Graph, path: str, x: str) -> str:
        in_shape = graph.shape(x)
        out = ctx.value(subpath(path, "out_channels"), self.out_channels, in_shape)
        if in_shape[0] == out and self.stride == 1:
            return x
        conv = "conv1d" if len(in_shape) == 2 else "conv2d"
        y = graph.add(
            conv,
            [x],
            name=subpath(path, "conv"),
            out_channels=out,
            kernel_size=1,
            stride=self.stride,
        )
        return graph.add("batch_norm", [y], name=subpath(path, "bn"))


@register_node
@dataclass(frozen=True, eq=False, init=False)
class Recipe(Node):
    """Training hyper-parameters searched jointly with the architecture (FBNetV3).

    Fields are plain values or decisions; decisions live under ``recipe.<field>``.

    Example:
        >>> from nas.space import FloatRange
        >>> r = Recipe(lr=FloatRange(1e-3, 1e-1, log=True), epochs=10)
    """

    fields: Mapping[str, Any]

    def __init__(self, **fields: Any) -> None:
        for k, v in fields.items():
            if isinstance(v, Decision) and v.structural:
                raise SpaceError(f"Recipe field {k!r} cannot choose among subtrees.")
        object.__setattr__(self, "fields", dict(fields))

    def parts(self) -> Sequence[Part]:
        return [Part(k, v) for k, v in self.fields.items() if isinstance(v, Decision)]

    def spec(self) -> dict[str, Any]:
        return {"fields": dict(self.fields)}

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> Recipe:
        return cls(**dict(spec.get("fields") or {}))

    def resolve(self, ctx: BuildContext, path: str = "recipe") -> dict[str, Any]:
        """Every field's value: plain ones as they are, decisions through ``ctx``."""
        return {k: ctx.value(subpath(path, k), v) for k, v in self.fields.items()}

"""Leaves of the tree: one op and the expressions its attributes may hold (computed at
compile time from the input shape or decisions), small fixed blocks built from registry
ops, and the training recipe."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nas.errors import SpaceError
from nas.space._decisions import Choice, Decision
from nas.space._json import register_node
from nas.space._node import Element, Node, Part, subpath

if TYPE_CHECKING:
    from nas.graph import Graph
    from nas.space._context import BuildContext

__all__ = [
    "Expr",
    "InChannels",
    "Op",
    "Project",
    "Recipe",
    "SamePadding",
    "Scaled",
    "SqueezeExcite",
    "make_divisible",
]


class Expr(Element):
    """An op attribute computed at compile time; its decisions are its :meth:`parts`."""

    def resolve(self, ctx: BuildContext, path: str, in_shape: tuple[int, ...] | None) -> Any:
        raise NotImplementedError


@register_node
@dataclass(frozen=True, eq=False)
class InChannels(Expr):
    """The input's channel count times ``mult`` (which may be a decision, e.g. an expansion
    ratio), rounded to a multiple of ``divisor``.

    Example:
        >>> from nas.space import Op
        >>> same_width = Op("conv2d", out_channels=InChannels(), kernel_size=3, padding=1)
    """

    mult: Any = 1
    divisor: int = 1

    def resolve(self, ctx: BuildContext, path: str, in_shape: tuple[int, ...] | None) -> Any:
        m = ctx.value(subpath(path, "mult"), self.mult)
        if in_shape is None:
            return None
        return make_divisible(in_shape[0] * m, self.divisor)


@register_node
@dataclass(frozen=True, eq=False)
class Scaled(Expr):
    """``make_divisible(base * factor, divisor)``; ``factor`` may be a (shared) decision.

    Example:
        >>> from nas.space import Choice
        >>> width = Scaled(32, Choice([0.5, 1.0], name="width_mult"))  # 16 or 32
    """

    base: float
    factor: Any
    divisor: int = 8

    def resolve(self, ctx: BuildContext, path: str, in_shape: tuple[int, ...] | None) -> Any:
        return make_divisible(
            self.base * ctx.value(subpath(path, "factor"), self.factor), self.divisor
        )


@register_node
@dataclass(frozen=True)
class SamePadding(Expr):
    """Padding that keeps the length/size at stride 1: ``dilation * (kernel_size - 1) // 2``.

    Resolved from the op's own (possibly searched) ``kernel_size`` and ``dilation``.
    """

    def resolve(self, ctx: BuildContext, path: str, in_shape: tuple[int, ...] | None) -> Any:
        return self  # finished by the op once its other attributes are resolved

    def padding(self, attrs: Mapping[str, Any]) -> int:
        k = attrs.get("kernel_size", 1)
        k = k[0] if isinstance(k, tuple) else k
        d = attrs.get("dilation", 1)
        return int(d) * (int(k) - 1) // 2


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round ``value`` to a multiple of ``divisor``, never below 90% of it (MobileNet's rule)."""
    if divisor <= 1:
        return max(1, round(value))
    new = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return new


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

    def draw(self, ctx: BuildContext, graph: Graph, path: str, x: str) -> str:
        return self.build(ctx, graph, path, x)  # one node: nothing to splice

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
        return conv1x1_bn(graph, path, x, out, self.stride)


def conv1x1_bn(graph: Graph, path: str, x: str, out_channels: int, stride: int) -> str:
    """A 1x1 conv (1-D or 2-D, as the input is) at ``path.conv``, then batch norm at ``path.bn``."""
    conv = "conv1d" if len(graph.shape(x)) == 2 else "conv2d"
    name = subpath(path, "conv")
    y = graph.add(conv, [x], name=name, out_channels=out_channels, kernel_size=1, stride=stride)
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

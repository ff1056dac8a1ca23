"""Expressions: op attributes computed at compile time from the input shape or decisions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nas.space._json import register_node
from nas.space._node import Element, subpath

if TYPE_CHECKING:
    from nas.space._context import BuildContext

__all__ = ["Expr", "InChannels", "SamePadding", "Scaled", "make_divisible"]


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
        >>> Op("conv2d", out_channels=InChannels(), kernel_size=3, padding=1)  # doctest: +ELLIPSIS
        Op(...)
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
        >>> Scaled(32, Choice([0.5, 1.0], name="width_mult"))  # doctest: +ELLIPSIS
        Scaled(...)
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

"""JSON form of spaces, through the node-type registry (:func:`register_node`).

Every node, expression and decision is ``{"type": <registered name>, **spec}``: its
constructor's keyword arguments, each encoded the same way (tuples as lists, mappings as
objects). A mapping that has a key ``"type"`` (a child named ``type``) is wrapped as
``{"type": "dict", "items": {...}}`` so that no name is ever reserved. Errors name the JSON
path of the offending element, e.g. ``body.items.conv.attrs.kernel_size``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from typing import Any, TypeVar

from nas._registry import Registry
from nas.errors import ArchError, NasError, SpaceError
from nas.space._decisions import _PRIMITIVE, Choice, Decision, FloatRange, IntRange
from nas.space._node import Element

__all__ = ["FORMAT", "from_json", "loads", "register_node", "to_json"]

FORMAT = "nas-space/2"
T = TypeVar("T", bound=type)
_TYPES: Registry[type] = Registry("node type")
_NAMES: dict[type, str] = {}


def register_node(cls: T | None = None, *, name: str | None = None, replace: bool = False) -> Any:
    """Register a node, expression or decision class so spaces that use it round-trip
    through JSON (``{"type": name, **spec}``); usable as ``@register_node`` or
    ``@register_node(name=..., replace=...)``. The name defaults to the class name.

    Example:
        >>> from nas.space import Node, register_node
        >>> @register_node(name="doc_identity", replace=True)
        ... class Identity(Node):
        ...     def spec(self): return {}
        ...     def build(self, ctx, graph, path, x): return x
    """

    def wrap(kind: T) -> T:
        label = name or kind.__name__
        if dataclasses.is_dataclass(kind) and any(
            f.name == "type" for f in dataclasses.fields(kind)
        ):
            raise SpaceError(
                f"{kind.__name__} has a field named 'type', which names the node type in JSON; "
                f"rename the field."
            )
        _TYPES.register(label, kind, replace=replace)
        _NAMES[kind] = label
        return kind

    return wrap if cls is None else wrap(cls)


for _decision in (Choice, IntRange, FloatRange):
    register_node(_decision)


def to_json(value: Any) -> Any:
    """The JSON form of a node, expression, decision or plain value."""
    if isinstance(value, Element | Decision):
        kind = _NAMES.get(type(value))
        if kind is None:
            raise SpaceError(
                f"{type(value).__name__} is not a registered node type, so it has no JSON form; "
                f"decorate the class with @nas.space.register_node."
            )
        spec = value.spec() if isinstance(value, Element) else _fields(value)
        return {"type": kind, **{k: to_json(v) for k, v in spec.items()}}
    if isinstance(value, Mapping):
        items = {str(k): to_json(v) for k, v in value.items()}
        return {"type": "dict", "items": items} if "type" in items else items
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, _PRIMITIVE):
        return value
    raise SpaceError(f"{type(value).__name__} value {value!r} has no JSON form.")


def _fields(obj: Any) -> dict[str, Any]:
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj) if f.init}


def from_json(value: Any, where: str) -> Any:
    """Invert :func:`to_json`; ``where`` is the JSON path used in error messages."""
    if isinstance(value, list):
        return tuple(from_json(v, f"{where}[{i}]") for i, v in enumerate(value))
    if not isinstance(value, Mapping):
        return value
    kind = value.get("type")
    if kind == "dict" or not isinstance(kind, str):  # a mapping, wrapped or not
        items = value.get("items") if kind == "dict" else value
        if not isinstance(items, Mapping):
            raise SpaceError(f"Space JSON at {where}: a 'dict' needs an 'items' object.")
        return {k: from_json(v, f"{where}.{k}") for k, v in items.items()}
    spec = {k: from_json(v, f"{where}.{k}") for k, v in value.items() if k != "type"}
    try:
        cls = _TYPES.get(kind)
        return cls.from_spec(spec) if issubclass(cls, Element) else cls(**spec)
    except NasError as exc:  # an unknown node type, or e.g. op name from the op registry
        raise type(exc)(f"Space JSON at {where}: {exc}") from None
    except KeyError as exc:
        raise SpaceError(f"Space JSON at {where}: missing field {exc}.") from None
    except (TypeError, ValueError) as exc:
        raise SpaceError(f"Space JSON at {where}: {exc}") from None


def loads(text: str, what: str) -> Any:
    """Parse an arch or space JSON text; bad input is one :class:`ArchError`/:class:`SpaceError`
    (malformed, NaN/Infinity/1e999, a key given twice, nested too deeply, 4,300 digits)."""
    error = ArchError if what.startswith("An arch") else SpaceError

    def constant(name: str) -> Any:
        raise error(f"{what} holds {name}, which is not a JSON number; give a finite number.")

    def number(text: str) -> float:
        value = float(text)
        if not math.isfinite(value):
            raise error(f"{what} holds {text}, beyond a float's range; give a finite number.")
        return value

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out = dict(items)
        if len(out) < len(items):
            twice = next(k for i, (k, _) in enumerate(items) if k in dict(items[:i]))
            raise error(f"{what} gives the key {twice!r} twice; keep one.")
        return out

    try:
        return json.loads(
            text, parse_constant=constant, parse_float=number, object_pairs_hook=pairs
        )
    except json.JSONDecodeError as exc:
        raise error(
            f"{what} is malformed ({exc.msg} at line {exc.lineno} column {exc.colno})."
        ) from None
    except (RecursionError, ValueError) as exc:
        if isinstance(exc, error):
            raise
        why = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise error(f"{what} cannot be read ({why}).") from None

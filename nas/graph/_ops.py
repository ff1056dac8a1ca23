"""The op registry: one :class:`OpSpec` per atomic op is the single source of truth.

Each spec knows its shape rule, parameter and FLOP count, lowering to torch, node features for a
predictor, and optional import hooks for ONNX and torch. Built-in ops (see ``_catalogue.py``) are
registered with :func:`register_op` exactly like a user's op.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from nas._registry import Registry
from nas.errors import GraphError

__all__ = [
    "BATCH",
    "REQUIRED",
    "OnnxNode",
    "OpSpec",
    "Shape",
    "TorchCall",
    "get_op",
    "list_ops",
    "register_op",
]

Shape = tuple[int, ...]
"""Per-sample shape, batch dim excluded: ``(C, L)`` 1-D, ``(C, H, W)`` 2-D, ``(F,)`` flat."""


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()
"""Default value marking an attribute the caller must give (e.g. ``out_channels``)."""


BATCH = 2**31 - 1
"""What a symbolic batch dim evaluates to in an imported model's shape arithmetic."""


@dataclass(frozen=True)
class TorchCall:
    """A functional lowering: the node becomes an fx ``call_function`` node.

    Attributes:
        fn: The function to call; ``None`` forwards the single input unchanged (no fx node).
        kwargs: Keyword arguments passed on every call.
        inputs: ``"args"`` passes inputs positionally, ``"list"`` as one list (``torch.cat``),
            ``"fold"`` reduces them pairwise with ``fn`` (n-ary ``add`` via ``operator.add``).
    """

    fn: Callable[..., Any] | None
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    inputs: Literal["args", "list", "fold"] = "args"


@dataclass(frozen=True)
class OnnxNode:
    """A read-only view of one ONNX node handed to :attr:`OpSpec.from_onnx` hooks.

    Attributes:
        op_type: ONNX op type (``"Conv"``), or a fused pattern (``"nas.Silu"``, ``"nas.MatMulAdd"``).
        name: The ONNX node name (for error messages).
        attrs: Decoded ONNX attributes (ints, floats, strings, lists).
        consts: For each input position holding a constant (initializer or folded), its
            numpy array; positions missing here are data inputs (IR values) or omitted.
        shapes: For each data input position, its per-sample shape.
        n_inputs: How many inputs the node lists (omitted optional inputs included).
        batch: The value the batch dim takes in the model's shape arithmetic: its static size,
            or :data:`BATCH` when the batch is symbolic. A ``Reshape`` target whose first entry
            is ``batch``, ``0`` or ``-1`` keeps the batch (see :meth:`per_sample`).
        stored: Input positions whose constant is a graph initializer (stored weights), as
            opposed to one a ``Constant`` node or constant folding produced.
    """

    op_type: str
    name: str
    attrs: Mapping[str, Any]
    consts: Mapping[int, Any]
    shapes: Mapping[int, Shape]
    n_inputs: int
    batch: int = -1
    stored: frozenset[int] = frozenset()

    def const(self, i: int) -> Any | None:
        """Return input ``i`` as a numpy array if it is a constant, else ``None``."""
        return self.consts.get(i)

    @property
    def data_inputs(self) -> tuple[int, ...]:
        """Positions of the inputs that are IR values (they become the node's inputs)."""
        return tuple(sorted(self.shapes))

    def per_sample(self, target: Any, size: int) -> Shape | None:
        """A full-tensor ``Reshape`` target as a per-sample shape (``-1`` resolved), or ``None``.

        ``size`` is the per-sample element count. The target's first entry must keep the batch
        (``0``, ``-1`` or :attr:`batch`); another ``-1`` is then resolved from ``size``.
        """
        return per_sample_shape([int(v) for v in target.reshape(-1)], size, self.batch)


def per_sample_shape(dims: Sequence[int], size: int, batch: int) -> Shape | None:
    """A full reshape target -> the per-sample shape, or ``None`` if it does not keep the batch.

    The first entry must be ``0``, ``-1`` or ``batch``; one ``-1`` among the rest is resolved
    from the per-sample element count ``size``.
    """
    if not dims or dims[0] not in (0, -1, batch):
        return None
    rest = list(dims[1:])
    if (dims[0] == -1 and -1 in rest) or rest.count(-1) > 1 or 0 in rest:
        return None
    known = math.prod(d for d in rest if d != -1)
    if -1 in rest:
        if known == 0 or size % known:
            return None
        rest[rest.index(-1)] = size // known
    return tuple(rest) if math.prod(rest) == size else None


def _zero_count(in_shapes: tuple[Shape, ...], out_shape: Shape, attrs: Mapping[str, Any]) -> int:
    return 0


def _no_normalize(in_shapes: tuple[Shape, ...], attrs: dict[str, Any]) -> dict[str, Any]:
    return attrs


def _spatial(shape: Shape) -> float:
    return float(math.prod(shape[1:])) if len(shape) > 1 else 1.0


def _largest(value: Any, default: float) -> float:
    """A numeric attr as one float: a bool or number itself, an int tuple its largest entry."""
    if isinstance(value, bool | int | float):
        return float(value)
    if isinstance(value, tuple) and value and all(isinstance(v, int) for v in value):
        return float(max(value))
    return default


def default_features(
    spec: OpSpec, in_shapes: tuple[Shape, ...], out_shape: Shape, attrs: Mapping[str, Any]
) -> dict[str, float]:
    """Node features every op gets: sizes, params, FLOPs and its numeric attributes.

    The predictor (``nas.predictors``) reads ``in_channels``, ``out_channels``,
    ``in_spatial``, ``out_spatial``, ``kernel``, ``stride``, ``groups``, ``depthwise``,
    ``params`` and ``flops`` from here; an op's ``features`` hook overrides any of them.
    """
    first = in_shapes[0] if in_shapes else out_shape
    in_channels = float(first[0]) if first else 0.0
    groups = _largest(attrs.get("groups"), 1.0)
    feats: dict[str, float] = {
        "params": float(spec.params(in_shapes, out_shape, attrs)),
        "flops": float(spec.flops(in_shapes, out_shape, attrs)),
        "out_size": float(math.prod(out_shape)),
        "out_channels": float(out_shape[0]) if out_shape else 0.0,
        "in_channels": in_channels,
        "in_spatial": _spatial(first),
        "out_spatial": _spatial(out_shape),
        "kernel": _largest(attrs.get("kernel_size"), 0.0),
        "stride": _largest(attrs.get("stride"), 0.0),
        "groups": groups,
        "depthwise": 1.0 if groups > 1 and groups == in_channels else 0.0,
        "n_inputs": float(len(in_shapes)),
    }
    for key, value in attrs.items():
        if isinstance(value, bool | int | float):
            feats[f"attr.{key}"] = float(value)
        elif isinstance(value, tuple) and value and all(isinstance(v, int) for v in value):
            feats[f"attr.{key}"] = float(max(value))
    return feats


@dataclass(frozen=True)
class OpSpec:
    """Everything the engine knows about one atomic op.

    Attributes:
        name: Registry name (``"conv2d"``).
        infer_shape: ``(in_shapes, attrs) -> out_shape``; raises :class:`GraphError` with a
            message saying what is wrong (the graph prefixes the node name).
        to_torch: ``(in_shapes, out_shape, attrs) -> torch.nn.Module | TorchCall``; imports torch
            lazily inside the function so building IR never needs torch.
        arity: Exact input count, or ``(min, max)`` with ``max=None`` for n-ary ops.
        defaults: Every allowed attribute and its default (:data:`REQUIRED` if none).
        params: ``(in_shapes, out_shape, attrs) -> int``; equals the lowered module's numel.
        flops: ``(in_shapes, out_shape, attrs) -> int``; MACs of conv/linear, 0 otherwise.
        features: Optional ``(in_shapes, out_shape, attrs) -> dict`` of extra predictor features.
        normalize: ``(in_shapes, attrs) -> attrs``: validate and canonicalize attributes
            (``kernel_size=(3, 3)`` -> ``3``) so equal computations have equal attrs.
        commutative: Input order does not matter (``add``, ``mul``); else the graph hash
            keeps input positions.
        zero_preserving: ``f(0) == 0`` (bool or ``attrs -> bool``): lets ``graph_hash``
            propagate ``zero`` ops through it.
        hash_transparent: The op is the identity at inference (``identity``, ``dropout``);
            ``graph_hash`` folds it away.
        onnx_op_types: ONNX op types :func:`nas.graph.import_onnx` offers to ``from_onnx``.
        from_onnx: ``OnnxNode -> attrs | None``; ``None`` means "not mine".
        from_torch: ``module -> attrs | None`` for fx ``call_module`` nodes in
            :func:`nas.graph.from_torch`; the module's ``state_dict()`` becomes the node's
            weights, so the lowering must name its tensors the same way.
        onnx_weights: ``(OnnxNode, attrs) -> {name: array}``: the lowered module's
            ``state_dict`` from the node's constants. Without it, an op with parameters takes
            the node's constant inputs in order, matched to the lowered module's parameters
            by shape (import fails, naming the op, when they do not match).

    Example:
        >>> spec = get_op("relu")
        >>> spec.infer_shape(((8, 4, 4),), {})
        (8, 4, 4)
    """

    name: str
    infer_shape: Callable[[tuple[Shape, ...], Mapping[str, Any]], Shape]
    to_torch: Callable[[tuple[Shape, ...], Shape, Mapping[str, Any]], Any]
    arity: int | tuple[int, int | None] = 1
    defaults: Mapping[str, Any] = field(default_factory=dict)
    params: Callable[[tuple[Shape, ...], Shape, Mapping[str, Any]], int] = _zero_count
    flops: Callable[[tuple[Shape, ...], Shape, Mapping[str, Any]], int] = _zero_count
    features: Callable[[tuple[Shape, ...], Shape, Mapping[str, Any]], dict[str, float]] | None = (
        None
    )
    normalize: Callable[[tuple[Shape, ...], dict[str, Any]], dict[str, Any]] = _no_normalize
    commutative: bool = False
    zero_preserving: bool | Callable[[Mapping[str, Any]], bool] = False
    hash_transparent: bool = False
    onnx_op_types: tuple[str, ...] = ()
    from_onnx: Callable[[OnnxNode], dict[str, Any] | None] | None = None
    from_torch: Callable[[Any], dict[str, Any] | None] | None = None
    onnx_weights: Callable[[OnnxNode, Mapping[str, Any]], dict[str, Any]] | None = None
    description: str = ""

    def check_arity(self, n: int) -> str | None:
        """Return an error message if ``n`` inputs do not fit this op, else ``None``."""
        lo: int
        hi: int | None
        if isinstance(self.arity, int):
            lo, hi = self.arity, self.arity
        else:
            lo, hi = self.arity
        if n < lo or (hi is not None and n > hi):
            want = str(lo) if lo == hi else f"{lo}..{'n' if hi is None else hi}"
            return f"expects {want} input(s), got {n}"
        return None

    def resolve_attrs(self, in_shapes: tuple[Shape, ...], attrs: Mapping[str, Any]) -> dict:
        """Merge defaults, reject unknown or missing attributes, then normalize."""
        unknown = [k for k in attrs if k not in self.defaults]
        if unknown:
            close = difflib.get_close_matches(unknown[0], list(self.defaults), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            allowed = ", ".join(self.defaults) or "none"
            raise GraphError(f"unknown attr {unknown[0]!r}{hint} (allowed: {allowed})")
        merged: dict[str, Any] = {}
        for key, default in self.defaults.items():
            value = attrs.get(key, default)
            if value is REQUIRED:
                raise GraphError(f"missing required attr {key!r}")
            merged[key] = tuple(value) if isinstance(value, list) else value
        return self.normalize(in_shapes, merged)

    def node_features(
        self, in_shapes: tuple[Shape, ...], out_shape: Shape, attrs: Mapping[str, Any]
    ) -> dict[str, float]:
        """Predictor features of one node: :func:`default_features` plus the op's own."""
        feats = default_features(self, in_shapes, out_shape, attrs)
        if self.features is not None:
            feats.update(self.features(in_shapes, out_shape, attrs))
        return feats

    def is_zero_preserving(self, attrs: Mapping[str, Any]) -> bool:
        zp = self.zero_preserving
        return bool(zp(attrs)) if callable(zp) else bool(zp)


_OPS: Registry[OpSpec] = Registry("op")


def register_op(spec: OpSpec, *, replace: bool = False) -> OpSpec:
    """Register an op so every stage (IR, torch, ONNX, features) knows it.

    Raises:
        RegistryError: If an op with the same name exists and ``replace`` is false.

    Example:
        >>> from nas.graph import OpSpec, register_op, TorchCall
        >>> spec = OpSpec("my_neg", infer_shape=lambda s, a: s[0],
        ...               to_torch=lambda s, o, a: TorchCall(__import__("operator").neg))
        >>> _ = register_op(spec)
    """
    if not isinstance(spec, OpSpec):
        raise TypeError(f"register_op expects an OpSpec, got {type(spec).__name__}")
    return _OPS.register(spec.name, spec, replace=replace)


def get_op(name: str) -> OpSpec:
    """Return the spec of op ``name``.

    Raises:
        RegistryError: If unknown; the message lists close matches ("did you mean ...").
    """
    return _OPS.get(name)


def list_ops() -> list[str]:
    """Names of all registered ops, sorted."""
    return _OPS.names()


def unregister_op(name: str) -> None:
    """Remove an op (tests and interactive sessions); unknown names are ignored."""
    _OPS.unregister(name)


def registered_specs() -> list[OpSpec]:
    """All specs, latest registered first (so a user's ONNX hook wins over a built-in)."""
    return [_OPS.get(n) for n in reversed(list(_OPS))]


def as_shape(value: Sequence[int]) -> Shape:
    """Validate and convert a user-given shape."""
    try:
        shape = tuple(int(v) for v in value)
    except (TypeError, ValueError):
        raise GraphError(f"Expected a shape (tuple of ints), got {value!r}") from None
    if any(d < 0 for d in shape):
        raise GraphError(f"Shape {shape} has a negative dimension")
    return shape

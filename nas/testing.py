"""Conformance checks for your own spaces, strategies and ops: the ones the built-ins pass.

The engine's own tests run every registered space, strategy and op through these functions
(``tests/test_conformance.py``), so a user's extension that passes them works wherever a
built-in one does. Each check raises :class:`ConformanceError` (an ``AssertionError``, so
pytest shows it as a failed assertion) naming the object and the property that failed.

* :func:`check_space`: samples are contained and canonical, arch and space JSON round trips,
  encode/decode, compile validates and is deterministic, ``mutate`` changes exactly one active
  decision, a small finite space enumerates exactly ``size()`` archs; on one sample the IR's
  output shape, params and FLOPs equal torch's (``FlopCounterMode``), and ONNX Runtime and the
  ONNX re-import agree with it (an input that feeds an ``embedding`` gets valid token ids,
  :func:`nas.graph.onnx_backend.random_inputs`).
* :func:`check_strategy`: ask/tell over a small tabular benchmark (every arch of a finite space
  with a fixed score): valid, never repeated proposals, out-of-order and failed tells, a finite
  space is exhausted exactly, a seed fixes the search, and a ``state_dict`` restored mid-search
  gives identical next proposals.
* :func:`check_op`: the op's shape rule, params and FLOPs equal its torch lowering's, its node
  features are finite, and, where the op declares ONNX import, ONNX Runtime agrees with torch
  and the exported file imports back to the same graph.

Example:
    >>> from nas.space import Choice, Op, Seq, Space
    >>> from nas.testing import check_op, check_space, check_strategy
    >>> from nas.search import get_strategy
    >>> space = Space("toy", Seq(fc=Op("linear", out_features=Choice([8, 16])), act=Op("relu")),
    ...               input_shape=(4,))
    >>> check_space(space, onnx=False)
    >>> check_strategy(lambda space, seed: get_strategy("random", space, seed=seed))
    >>> check_op("conv1d", (4, 16), out_channels=6, kernel_size=3, onnx=False)
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from nas.errors import NasError
from nas.graph import Graph, get_op
from nas.search import Strategy
from nas.space import Arch, Choice, IntRange, Op, Recipe, Repeat, Seq, Space

__all__ = ["ConformanceError", "check_op", "check_space", "check_strategy", "tabular_space"]

StrategyFactory = Callable[..., Strategy]
"""``factory(space, seed=seed) -> Strategy``: builds a fresh strategy (e.g. a ``partial`` of
:func:`nas.search.get_strategy`)."""

ENUMERATE_UP_TO = 2_000  # finite spaces at most this large are enumerated in full


class ConformanceError(NasError, AssertionError):
    """A space, strategy or op breaks a property the engine relies on; the message names it."""


def _fail(subject: str, prop: str, detail: str) -> NoReturn:
    raise ConformanceError(f"{subject}: {prop}: {detail}")


def _check(ok: bool, subject: str, prop: str, detail: str) -> None:
    if not ok:
        _fail(subject, prop, detail)


# ----------------------------------------------------------------------------- spaces
def check_space(space: Space, *, samples: int = 5, seed: int = 0, onnx: bool = True) -> None:
    """Run ``space`` through the DSL, IR and backend properties every space must have.

    Args:
        space: The space to check.
        samples: How many sampled archs the DSL properties are checked on.
        seed: Seeds the sampling, mutation and torch weights.
        onnx: Also check the ONNX export (against ONNX Runtime) and its re-import.

    Raises:
        ConformanceError: Naming the space, the property and the offending arch.

    Example:
        >>> from nas.space import get_space
        >>> check_space(get_space("mlp"), samples=2, onnx=False)
    """
    subject = f"space {space.name!r}"
    rng = np.random.default_rng(seed)
    archs = [space.sample(rng) for _ in range(samples)]
    for arch in archs:
        _check_arch(space, arch, rng, subject)
    _check_space_json(space, seed, subject)
    size = space.size()
    if size is not None and size <= ENUMERATE_UP_TO:
        ids = [a.arch_id for a in space.enumerate()]
        _check(
            len(ids) == size == len(set(ids)),
            subject,
            "enumerate() yields size() distinct archs",
            f"size() = {size}, enumerate() gave {len(ids)} archs, {len(set(ids))} distinct",
        )
    if archs:
        _check_backends(space.compile(archs[0]), f"{subject} arch {archs[0].to_json()}", seed, onnx)


def _check_arch(space: Space, arch: Arch, rng: np.random.Generator, subject: str) -> None:
    where = f"{subject} arch {arch.to_json()}"
    _check(space.contains(arch), where, "sample is contained", "contains() is False")
    _check(space.validate(arch.values) == arch, where, "sample is canonical", "validate() differs")
    extra = set(arch.values) - set(space.decisions)
    _check(not extra, where, "sample uses declared decisions", f"undeclared {sorted(extra)}")
    again = Arch.from_json(arch.to_json())
    _check(
        again == arch and again.arch_id == arch.arch_id,
        where,
        "arch JSON round trip",
        f"Arch.from_json(to_json()) gave {again.to_json()}",
    )
    vector = space.encode(arch)
    _check(
        vector.shape == (len(space.decisions),),
        where,
        "encode() has one entry per decision",
        f"shape {vector.shape}, {len(space.decisions)} decisions",
    )
    _check(space.decode(vector) == arch, where, "encode/decode round trip", f"vector {vector}")
    g1, g2 = space.compile(arch), space.compile(arch)
    try:
        g1.validate()
    except NasError as err:
        _fail(where, "compiled graph validates", str(err))
    _check(g1.to_text() == g2.to_text(), where, "compile is deterministic", "two texts differ")
    child = space.mutate(arch, rng)
    _check(space.contains(child), where, "mutate() stays in the space", child.to_json())
    shared = set(arch.values) & set(child.values)
    changed = sorted(k for k in shared if arch.values[k] != child.values[k])
    movable = [k for k, v in arch.values.items() if space.decisions[k].size() != 1]
    _check(
        len(changed) == (1 if movable else 0),
        where,
        "mutate() changes exactly one active decision",
        f"changed {changed} -> {child.to_json()}",
    )


def _check_space_json(space: Space, seed: int, subject: str) -> None:
    again = Space.from_json(space.to_json())
    _check(again.to_json() == space.to_json(), subject, "space JSON round trip", "texts differ")
    _check(
        list(again.decisions) == list(space.decisions) and again.size() == space.size(),
        subject,
        "space JSON round trip keeps decisions and size",
        f"{list(again.decisions)} / {again.size()}",
    )
    rng_a, rng_b = np.random.default_rng(seed), np.random.default_rng(seed)
    for _ in range(3):
        a, b = space.sample(rng_a), again.sample(rng_b)
        _check(
            a == b and space.compile(a).graph_hash() == again.compile(b).graph_hash(),
            subject,
            "the JSON copy samples and compiles like the original",
            f"{a.to_json()} vs {b.to_json()}",
        )


def _check_backends(graph: Graph, where: str, seed: int, onnx: bool) -> None:
    """The IR's shape, params and FLOPs against torch, then ONNX Runtime and re-import."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from nas.graph import import_onnx, onnx_check, to_torch
    from nas.graph.onnx_backend import random_inputs

    with torch.random.fork_rng(devices=[]):  # seeded weights, the caller's state untouched
        torch.manual_seed(seed)
        module = to_torch(graph).eval()
    xs = random_inputs(graph, 2, torch.Generator().manual_seed(seed))  # ids where they must be
    with torch.no_grad():
        out = module(*xs)
    outs = list(out) if isinstance(out, tuple) else [out]
    got = [tuple(o.shape[1:]) for o in outs]
    want = [graph.shape(o) for o in graph.outputs]
    _check(got == want, where, "IR output shape == torch output shape", f"{want} vs torch {got}")
    numel = sum(p.numel() for p in module.parameters())
    _check(graph.params == numel, where, "IR params == torch params", f"{graph.params} vs {numel}")
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        module(*(x[:1] for x in xs))
    counted = counter.get_total_flops()
    _check(
        2 * graph.flops == counted,
        where,
        "IR FLOPs (MACs) == FlopCounterMode / 2",
        f"{graph.flops} vs {counted} / 2",
    )
    if not onnx:
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "graph.onnx"
        try:
            onnx_check(graph, path)
        except NasError as err:
            _fail(where, "ONNX Runtime == torch", str(err))
        back = import_onnx(path)
    _check(
        back.graph_hash() == graph.graph_hash(),
        where,
        "ONNX re-import gives the same graph_hash",
        f"{graph.to_text()}\nvs\n{back.to_text()}",
    )
    _check(
        (back.params, back.flops) == (graph.params, graph.flops),
        where,
        "ONNX re-import keeps params and FLOPs",
        f"{(graph.params, graph.flops)} vs {(back.params, back.flops)}",
    )


# ----------------------------------------------------------------------------- ops
def check_op(
    name: str,
    input_shape: Sequence[int] | Sequence[Sequence[int]],
    *,
    onnx: bool | None = None,
    **attrs: Any,
) -> None:
    """Check a registered op's rules against its torch lowering (and ONNX where it declares it).

    The op reads one graph input per input shape, each through a ``relu`` (so the exported ONNX
    file holds a node before the op even when the op lowers to nothing, like ``identity``).

    Args:
        name: The registered op name.
        input_shape: Per-sample input shape, or one shape per input for an n-ary op.
        onnx: ``None`` checks ONNX when the op declares ``onnx_op_types``; ``True`` or
            ``False`` forces it on or off.
        **attrs: The op's attributes.

    Raises:
        ConformanceError: Naming the op, its attributes and the property that failed.

    Example:
        >>> check_op("add", [(4, 6, 6), (4, 6, 6)], onnx=False)
    """
    spec = get_op(name)
    shapes = _shapes(input_shape)
    where = f"op {name!r} on {' and '.join(map(str, shapes))} with {attrs}"
    g = Graph(f"op_{name}")
    ins = [g.add("relu", g.add_input(s, name=f"input{i}")) for i, s in enumerate(shapes)]
    try:
        g.set_outputs(g.add(name, ins, **attrs))
        g.validate()
    except NasError as err:
        _fail(where, "the shape rule accepts the case", str(err))
    feats = g.node_features(g.outputs[0])
    bad = {k: v for k, v in feats.items() if not (isinstance(v, float) and math.isfinite(v))}
    _check(not bad, where, "node features are finite floats", f"{bad}")
    _check_backends(g, where, 0, bool(spec.onnx_op_types) if onnx is None else onnx)


def _shapes(input_shape: Sequence[int] | Sequence[Sequence[int]]) -> list[tuple[int, ...]]:
    if input_shape and all(isinstance(d, int) for d in input_shape):
        return [tuple(int(d) for d in input_shape)]  # type: ignore[arg-type]
    return [tuple(int(d) for d in s) for s in input_shape]  # type: ignore[union-attr]


# ----------------------------------------------------------------------------- strategies
def tabular_space() -> Space:
    """The 12-arch conditional space :func:`check_strategy` searches by default.

    One or two linear blocks of width 4 or 8 (a variable depth, so decisions appear and
    disappear), and a tuple-valued recipe choice.

    Example:
        >>> tabular_space().size()
        12
    """
    block = Seq(fc=Op("linear", out_features=Choice([4, 8])), act=Op("relu"))
    return Space(
        "conformance_table",
        Seq(blocks=Repeat(block, depth=IntRange(1, 2)), out=Op("linear", out_features=3)),
        input_shape=(4,),
        recipe=Recipe(optimizer="adamw", betas=Choice([(0.9, 0.999), (0.8, 0.99)])),
    )


class _Table:
    """A tabular benchmark over a space: a fixed score per arch, every 5th tell fails."""

    def __init__(self, space: Space, seed: int) -> None:
        self.space = space
        self.weights = np.random.default_rng(seed + 1234).normal(size=len(space.decisions))
        self.told = 0

    def metrics(self, arch: Arch) -> dict[str, float]:
        code = np.nan_to_num(self.space.encode(arch), nan=0.0)
        graph = self.space.compile(arch)
        return {
            "val_accuracy": float(50.0 + 10.0 * math.tanh(float(self.weights @ code) / 4.0)),
            "params": float(graph.params),
            "flops": float(graph.flops),
        }

    def tell(self, strategy: Strategy, candidate_id: str, arch: Arch) -> None:
        self.told += 1
        if self.told % 5 == 0:
            strategy.tell(candidate_id, None, status="failed")
        else:
            strategy.tell(candidate_id, self.metrics(arch))


def _drive(
    strategy: Strategy, table: _Table, steps: int, batch: int, subject: str, seen: set[str]
) -> list[Arch]:
    """Ask in batches, tell in reverse order; check each proposal against ``seen`` (updated).

    Returns the archs asked.
    """
    out: list[Arch] = []
    while len(out) < steps:
        got = strategy.ask(min(batch, steps - len(out)))
        if not got:
            break
        _check(
            strategy.pending[-len(got) :] == [c.candidate_id for c in got],
            subject,
            "asked candidates are pending",
            f"pending {strategy.pending}",
        )
        for c in got:
            where = f"{subject} candidate {c.candidate_id} {c.arch.to_json()}"
            _check(table.space.contains(c.arch), where, "proposals are in the space", "not in it")
            _check(c.arch.arch_id not in seen, where, "no repeated proposals", "proposed before")
            seen.add(c.arch.arch_id)
            out.append(c.arch)
        for c in reversed(got):  # results come back out of order
            table.tell(strategy, c.candidate_id, c.arch)
    return out


def check_strategy(
    factory: StrategyFactory, *, space: Space | None = None, seed: int = 0, steps: int = 30
) -> None:
    """Run a strategy through the ask/tell contract on a small tabular benchmark.

    The table scores every arch of ``space`` (default :func:`tabular_space`) with a fixed,
    rugged function and reports ``val_accuracy``, ``params`` and ``flops``; every 5th
    evaluation fails.

    Args:
        factory: ``factory(space, seed=seed)`` builds a fresh strategy.
        space: The space to search; a finite one of at most a few dozen archs is exhausted.
        seed: The strategy seed.
        steps: Proposals per run when the space is larger than that.

    Raises:
        ConformanceError: Naming the strategy and the property that failed.

    Example:
        >>> from functools import partial
        >>> from nas.search import get_strategy
        >>> check_strategy(partial(get_strategy, "rea", population_size=4, sample_size=2))
    """
    space = tabular_space() if space is None else space
    first = factory(space, seed=seed)
    subject = f"strategy {type(first).__name__} ({first.name!r}) on space {space.name!r}"
    size = space.size()
    finite = size is not None and size <= steps
    n = int(size) if finite else steps  # type: ignore[arg-type]
    archs = _drive(first, _Table(space, seed), n + 5 if finite else n, 3, subject, set())
    _check(len(archs) == n, subject, f"{n} proposals before exhaustion", f"got {len(archs)}")
    if finite:
        everything = {a.arch_id for a in space.enumerate()}
        _check(
            {a.arch_id for a in archs} == everything and first.ask(2) == [],
            subject,
            "a finite space is exhausted exactly, then ask() returns []",
            f"{len({a.arch_id for a in archs})} of {len(everything)} proposed",
        )
    _check(first.num_told == n, subject, "every tell is counted", f"num_told {first.num_told}")
    again = _drive(factory(space, seed=seed), _Table(space, seed), n, 3, subject, set())
    _check(
        [a.arch_id for a in again] == [a.arch_id for a in archs],
        subject,
        "the same seed proposes the same archs",
        "the second run differs",
    )
    _check_restore(factory, space, seed, n, subject)


def _check_restore(factory: StrategyFactory, space: Space, seed: int, n: int, subject: str) -> None:
    original, table = factory(space, seed=seed), _Table(space, seed)
    seen: set[str] = set()
    _drive(original, table, n // 2, 2, subject, seen)
    pending = original.ask(min(2, n - n // 2))  # saved while candidates are being evaluated
    seen |= {c.arch.arch_id for c in pending}
    try:
        state = json.loads(json.dumps(original.state_dict(), allow_nan=False))
    except (TypeError, ValueError) as err:
        _fail(subject, "state_dict() is plain JSON", str(err))
    restored = factory(space, seed=seed)
    restored.load_state_dict(state)
    _check(
        restored.pending == [c.candidate_id for c in pending],
        subject,
        "a restored state keeps the pending candidates",
        f"{restored.pending} vs {[c.candidate_id for c in pending]}",
    )
    twin = _Table(space, seed)
    twin.told = table.told
    for strategy, tab in ((original, table), (restored, twin)):
        for c in pending:
            tab.tell(strategy, c.candidate_id, c.arch)
    rest = n - n // 2 - len(pending)
    a = _drive(original, table, rest, 2, subject, set(seen))
    b = _drive(restored, twin, rest, 2, subject, set(seen))
    _check(
        [x.arch_id for x in a] == [x.arch_id for x in b],
        subject,
        "a state_dict round trip gives identical next proposals",
        f"{len(a)} proposals after restore, first difference at "
        f"{next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))}",
    )
    _check(
        original.state_dict() == restored.state_dict(),
        subject,
        "a restored strategy ends in the same state",
        "state_dict() differs",
    )

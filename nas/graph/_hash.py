"""``graph_hash``: one hash per function, so isomorphic candidates are trained once.

Rules, applied to the *live* graph (params and FLOPs still count the full graph):

1. ``zero`` nodes are zero; an op with ``zero_preserving`` whose inputs are all zero is zero; a
   ``mul`` with a zero input is zero; an ``add`` ignores its zero inputs.
2. ``identity`` and ``dropout`` (``hash_transparent``, identity at inference), and an ``add`` or
   ``concat`` left with one input of its own shape, are folded into their input.
3. Parameter-free nodes with the same op, attrs and inputs are one node (common
   subexpressions: ``relu(x)`` computed twice is ``relu(x)`` read twice, as ONNX exporters
   write it). Nodes with parameters stay distinct: two convs of one input are two functions.
4. An ``add`` whose input is another ``add`` used only there (same shape) is flattened into it,
   so ``(a + b) + c`` (how ONNX writes an n-ary sum) equals ``add(a, b, c)``.
5. Nodes that do not reach an output are dropped (dead code).
6. Each remaining node is labelled with op + attrs + output shape (inputs and outputs also
   with their position). A bottom-up (Merkle) pass digests every node's label with its
   inputs' digests (in port order for order-sensitive ops, sorted for commutative ones), so a
   node's digest covers its whole expression; a top-down pass adds who consumes each node
   and at which port, so one node with parameters read twice differs from two equal ones. The hash digests
   the sorted multiset of node digests (blake2b, 32 bytes): invariant to node names and
   insertion order, linear in the graph size, and independent of any library version.
   It is the DAG analogue of Weisfeiler-Lehman run to full depth.

Node names never enter the hash.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from typing import TYPE_CHECKING, Any

from nas.graph._graph import INPUT_OP
from nas.graph._ops import get_op

if TYPE_CHECKING:
    from nas.graph._graph import Graph

__all__ = ["graph_hash", "live_graph"]

_ZERO = "zero"


def _canon(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.6g}")
    if isinstance(value, tuple | list):
        return [_canon(v) for v in value]
    return value


def live_graph(graph: Graph) -> tuple[dict[str, tuple[str, list[str]]], list[str], set[str]]:
    """Apply rules 1-5.

    Returns:
        ``(kept, outputs, zeros)``: ``kept`` maps each live node to ``(label, inputs)``,
        ``outputs`` are the resolved output nodes, ``zeros`` the nodes known to be zero
        (a zero that is still read, by ``concat`` say, stays in ``kept`` as a leaf).
    """
    alias: dict[str, str] = {}
    zeros: set[str] = set()
    kept: dict[str, tuple[str, list[str]]] = {}
    common: dict[tuple[str, ...], str] = {}

    def resolve(n: str) -> str:
        while n in alias:
            n = alias[n]
        return n

    for pos_in, name in enumerate(graph.inputs):
        kept[name] = (f"input#{pos_in}|{graph.shape(name)}", [])
    for name in graph.nodes():
        node = graph.node(name)
        if node.op == INPUT_OP:
            continue
        spec = get_op(node.op)
        ins = [resolve(i) for i in node.inputs]
        zin = [i in zeros for i in ins]
        if node.op == _ZERO or (all(zin) and spec.is_zero_preserving(node.attrs)):
            zeros.add(name)
            continue
        if node.op == "mul" and any(zin):
            zeros.add(name)
            continue
        if node.op == "add":
            ins = [i for i in ins if i not in zeros]
        if spec.hash_transparent or (
            node.op in ("add", "concat") and len(ins) == 1 and graph.shape(ins[0]) == node.shape
        ):
            alias[name] = ins[0]
            continue
        attrs = json.dumps({k: _canon(v) for k, v in node.attrs.items()}, sort_keys=True)
        label = f"{node.op}|{attrs}|{node.shape}"
        if node.params == 0:  # rule 3: one node per parameter-free subexpression
            key = (label, *(sorted(ins) if spec.commutative else ins))
            if key in common:
                alias[name] = common[key]
                continue
            common[key] = name
        kept[name] = (label, ins)

    outputs = [resolve(o) for o in graph.outputs]
    for z in {i for _, ins in kept.values() for i in ins} | set(outputs):
        if z in zeros:
            kept[z] = (f"zero|{graph.shape(z)}", [])

    # rule 4: flatten single-use adds into the add that reads them
    uses = Counter(i for _, ins in kept.values() for i in ins) + Counter(outputs)
    for name in list(kept):
        label, ins = kept[name]
        if not label.startswith("add|"):
            continue
        flat: list[str] = []
        for i in ins:
            inner = kept.get(i)
            if (
                inner
                and inner[0].startswith("add|")
                and uses[i] == 1
                and graph.shape(i) == graph.shape(name)
            ):
                flat.extend(inner[1])
            else:
                flat.append(i)
        kept[name] = (label, flat)

    # rule 5: keep what the outputs reach
    live: set[str] = set()
    stack = list(outputs)
    while stack:
        n = stack.pop()
        if n not in live:
            live.add(n)
            stack.extend(kept[n][1])
    return {n: v for n, v in kept.items() if n in live}, outputs, zeros


def graph_hash(graph: Graph, *, digest_size: int = 32) -> str:
    """Hash of the live computation of ``graph`` (hex, ``2 * digest_size`` characters).

    Example:
        >>> from nas.graph import Graph
        >>> a = Graph(); x = a.add_input((4,), name="x"); a.set_outputs(a.add("relu", x))
        >>> b = Graph(); y = b.add_input((4,), name="y"); b.set_outputs(b.add("relu", y, name="r"))
        >>> a.graph_hash() == b.graph_hash()
        True
    """
    kept, outputs, _ = live_graph(graph)
    out_tags: dict[str, list[int]] = {}
    for pos, o in enumerate(outputs):
        out_tags.setdefault(o, []).append(pos)
    order = [n for n in graph.nodes() if n in kept]  # topological

    # Bottom-up (Merkle) pass: a node's digest covers its label and, in port order for
    # order-sensitive ops (sorted for commutative ones), the digests of its inputs, i.e. the
    # whole computation that produces it. Exact for DAGs, linear in the graph size.
    up: dict[str, bytes] = {}
    consumers: dict[str, list[tuple[str, str]]] = {n: [] for n in order}
    for name in order:
        label, ins = kept[name]
        tag = f"|out{out_tags[name]}" if name in out_tags else ""
        ordered = not _commutative(label.split("|", 1)[0])
        parts = [up[i] for i in ins] if ordered else sorted(up[i] for i in ins)
        up[name] = _digest((label + tag).encode(), *parts)
        for pos, i in enumerate(ins):
            consumers[i].append((name, str(pos) if ordered else "x"))
    # Top-down pass: a node's digest also covers who consumes it and at which port, so two
    # distinct nodes computing the same thing are told apart from one node read twice.
    down: dict[str, bytes] = {}
    for name in reversed(order):
        uses = sorted(down[c] + port.encode() for c, port in consumers[name])
        down[name] = _digest(up[name], *uses)
    return _digest(*sorted(down.values()), size=digest_size).hex()


def _digest(*parts: bytes, size: int = 16) -> bytes:
    h = hashlib.blake2b(digest_size=size)
    for part in parts:
        h.update(len(part).to_bytes(4, "little"))
        h.update(part)
    return h.digest()


def _commutative(op: str) -> bool:
    try:
        return get_op(op).commutative
    except Exception:  # a label op that is not registered (cannot happen for built graphs)
        return False

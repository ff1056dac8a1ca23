"""IR compile throughput and compiled-module speed against a hand-written NB-201 network.

Reports (one core: torch and BLAS threads pinned to 1):
  * sample + compile to IR vs building the same graph in networkx (ratio first);
  * archs/s for sample + compile-to-IR on nb201 and mobilenet from the same timing (no torch);
  * time to build the torch module from the IR vs constructing a hand-written nn.Module;
  * graph_hash per compiled graph vs the hash code before it was made faster (``_hash.py`` at
    commit c602c04, loaded from git; the hashes are checked equal);
  * 15 NB-201 cells spliced from one compiled cell (``Graph.splice``) vs added node by node;
  * forward+backward step time of the compiled module vs the hand-written one, for a sampled
    arch and for the all-conv3x3 cell. The hand-written net writes ``none`` as ``x.mul(0)``
    like the benchmark's reference code; the IR lowers ``zero`` to ``zeros_like``, which
    skips the backward pass through dead branches.

Run: python benchmarks/ir_speed.py [--archs 2000] [--steps 30] [--json] [--save]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import torch
from torch import nn

from nas.graph import to_torch
from nas.search_spaces.nb201 import EDGES, format_arch_str, parse_arch_str
from nas.space import get_space


# --------------------------------------------------------------------------- hand-written NB-201
class ReLUConvBN(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, k: int, stride: int = 1) -> None:
        super().__init__(
            nn.ReLU(), nn.Conv2d(c_in, c_out, k, stride, k // 2, bias=False), nn.BatchNorm2d(c_out)
        )


class Zero(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


def make_op(name: str, c: int) -> nn.Module:
    if name == "none":
        return Zero()
    if name == "skip_connect":
        return nn.Identity()
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, 1, 1, count_include_pad=False)
    return ReLUConvBN(c, c, 1 if name == "nor_conv_1x1" else 3)


class Cell(nn.Module):
    def __init__(self, ops: list[str], c: int) -> None:
        super().__init__()
        self.edges = nn.ModuleList(make_op(op, c) for op in ops)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        k = 0
        for i in range(1, 4):
            total = None
            for j in range(i):
                y = self.edges[k](nodes[j])
                total = y if total is None else total + y
                k += 1
            nodes.append(total)
        return nodes[-1]


class Reduction(nn.Module):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.a = ReLUConvBN(c_in, c_out, 3, 2)
        self.b = ReLUConvBN(c_out, c_out, 3)
        self.down = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(self.a(x)) + self.down(x)


class NB201Net(nn.Module):
    def __init__(self, ops: list[str], num_classes: int = 10) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16)]
        for stage, c in enumerate((16, 32, 64)):
            if stage:
                layers.append(Reduction(c // 2, c))
            layers.extend(Cell(ops, c) for _ in range(5))
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.BatchNorm2d(64), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.head(self.features(x)).flatten(1))


# --------------------------------------------------------------------------- measurements
def networkx_ratio(space_name: str, n: int, repeats: int = 3) -> dict[str, float]:
    """Sample + compile to IR vs building the same graphs (nodes with op, attrs, shape, and
    edges) in networkx from already compiled node lists: ratio first, lower is better.

    Each repeat samples ``n`` archs this process has not compiled before (a new seed), as a
    search meets them: a cell's template is drawn for new labels, not found in the cache
    (timing archs already compiled, as this did before, measured splicing alone): a subtree
    met for the first time is drawn, and planned for copying when it repeats. The op rules
    cache is warm, as in a long search. The networkx side builds those same graphs."""
    import networkx as nx

    space = get_space(space_name)
    warm = np.random.default_rng(1000)
    for _ in range(20):
        space.compile(space.sample(warm))
    ours_t, nx_t, sizes = [], [], []
    for rep in range(repeats):  # interleaved: load changes hit both
        start = time.perf_counter()
        r = np.random.default_rng(rep + 1)
        for _ in range(n):
            space.compile(space.sample(r), check=False)
        ours_t.append(time.perf_counter() - start)
        r = np.random.default_rng(rep + 1)
        graphs = [space.compile(space.sample(r), check=False) for _ in range(n)]
        listings = [[(name, g.node(name)) for name in g.nodes()] for g in graphs]
        sizes.extend(len(g) for g in graphs)
        start = time.perf_counter()
        for listing in listings:
            d = nx.DiGraph()
            for name, node in listing:
                d.add_node(name, op=node.op, shape=node.shape, **node.attrs)
                for i in node.inputs:
                    d.add_edge(i, name)
        nx_t.append(time.perf_counter() - start)
    ours_s, nx_s = statistics.median(ours_t), statistics.median(nx_t)
    return {
        "ratio_vs_networkx": ours_s / nx_s,
        "sample_compile_ms": ours_s / n * 1e3,
        "archs_per_s": n / ours_s,
        "networkx_build_ms": nx_s / n * 1e3,
        "nodes": statistics.mean(sizes),
        "load_avg_1m": os.getloadavg()[0],
    }


def old_hash() -> Any:
    """``graph_hash`` as it was before it was made faster (from git)."""
    import subprocess
    import sys
    import types
    from pathlib import Path

    source = subprocess.run(
        ["git", "show", "c602c04:nas/graph/_hash.py"],
        cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    module = types.ModuleType("old_hash")
    sys.modules["old_hash"] = module
    exec(compile(source, "old_hash.py", "exec"), module.__dict__)
    return module.graph_hash


def hash_ratio(space_name: str, n: int) -> dict[str, float]:
    """graph_hash now vs before (same graphs, interleaved): ratio first, lower is better."""
    from nas.graph import graph_hash

    before = old_hash()
    space = get_space(space_name)
    rng = np.random.default_rng(2)
    graphs = [space.compile(space.sample(rng), check=False) for _ in range(n)]
    if [graph_hash(g) for g in graphs] != [before(g) for g in graphs]:
        raise SystemExit(f"{space_name}: graph_hash differs from the old code")
    times: dict[str, list[float]] = {"ours": [], "old": []}
    for _ in range(3):
        for key, fn in (("old", before), ("ours", graph_hash)):
            start = time.perf_counter()
            for g in graphs:
                fn(g)
            times[key].append(time.perf_counter() - start)
    ours, old = statistics.median(times["ours"]), statistics.median(times["old"])
    return {
        "hash_ratio_vs_old": ours / old,
        "hash_ms": ours / n * 1e3,
        "hash_old_ms": old / n * 1e3,
    }


def splice_ratio(n: int) -> dict[str, float]:
    """An NB-201-shaped stack of 15 cells: splicing one compiled cell vs adding node by node."""
    from nas.graph import Graph

    def cell(g: Graph, x: str, prefix: str) -> str:
        nodes = [x]
        for j in range(1, 4):
            terms = []
            for i in range(j):
                r = g.add("relu", nodes[i], name=f"{prefix}e{i}{j}.relu")
                c = g.add("conv2d", r, name=f"{prefix}e{i}{j}.conv", out_channels=16,
                          kernel_size=3, padding=1)  # fmt: skip
                terms.append(g.add("batch_norm", c, name=f"{prefix}e{i}{j}.bn"))
            nodes.append(g.add("add", terms, name=f"{prefix}n{j}"))
        return nodes[-1]

    def build(spliced: bool) -> Graph:
        g = Graph("stack")
        x = g.add_input((16, 32, 32))
        template = Graph("cell")
        template.set_outputs(cell(template, template.add_input((16, 32, 32), name="x"), ""))
        for k in range(15):
            prefix = f"cells.{k}."
            x = g.splice(template, [x], prefix=prefix)[0] if spliced else cell(g, x, prefix)
        g.set_outputs(x)
        return g

    if build(True).to_text() != build(False).to_text():
        raise SystemExit("spliced stack differs from the node-by-node one")
    times: dict[str, list[float]] = {"spliced": [], "direct": []}
    for _ in range(3):
        for key in ("direct", "spliced"):
            start = time.perf_counter()
            for _ in range(n):
                build(key == "spliced")
            times[key].append(time.perf_counter() - start)
    ours, base = statistics.median(times["spliced"]), statistics.median(times["direct"])
    return {"splice_ratio_vs_direct": ours / base, "splice_ms": ours / n * 1e3,
            "direct_ms": base / n * 1e3}  # fmt: skip


def step_time(model: nn.Module, steps: int, batch: int = 64) -> float:
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.randn(batch, 3, 32, 32)
    y = torch.randint(0, 10, (batch,))
    times = []
    for i in range(steps + 3):
        start = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        if i >= 3:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def compare_with_handwritten(space: Any, arch: Any, steps: int) -> dict[str, Any]:
    ops = [arch[f"cell.n{i}_from{j}"] for i, j in EDGES]
    out: dict[str, Any] = {"arch": format_arch_str(arch)}
    reps = 20
    start = time.perf_counter()
    for _ in range(reps):
        compiled = to_torch(space.compile(arch))
    out["build_compiled_ms"] = (time.perf_counter() - start) / reps * 1e3
    start = time.perf_counter()
    for _ in range(reps):
        hand = NB201Net(ops)
    out["build_handwritten_ms"] = (time.perf_counter() - start) / reps * 1e3
    out["build_ratio"] = out["build_compiled_ms"] / out["build_handwritten_ms"]
    assert sum(p.numel() for p in compiled.parameters()) == sum(
        p.numel() for p in hand.parameters()
    )
    # interleave the two models so drift in machine load hits both alike
    compiled_times, hand_times = [], []
    for _ in range(3):
        compiled_times.append(step_time(compiled.train(), max(1, steps // 3)))
        hand_times.append(step_time(hand.train(), max(1, steps // 3)))
    out["step_compiled_ms"] = statistics.median(compiled_times) * 1e3
    out["step_handwritten_ms"] = statistics.median(hand_times) * 1e3
    out["step_ratio"] = out["step_compiled_ms"] / out["step_handwritten_ms"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", type=int, default=2000)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--save", action="store_true", help="write results/scale_compile.json")
    args = parser.parse_args()
    torch.set_num_threads(1)

    out: dict[str, Any] = {}
    for name in ("nb201", "mobilenet"):
        ratio = networkx_ratio(name, max(50, args.archs // 3))
        out.update({f"{name}_{k}": v for k, v in ratio.items()})
        print(
            f"{name} sample+compile (new archs) vs networkx build: ratio "
            f"{ratio['ratio_vs_networkx']:.3f} ({ratio['sample_compile_ms']:.3f} ms = "
            f"{ratio['archs_per_s']:.0f} archs/s vs {ratio['networkx_build_ms']:.3f} ms, "
            f"{ratio['nodes']:.0f} nodes, load {ratio['load_avg_1m']:.2f})"
        )
    for name in ("nb201", "mobilenet"):
        ratio = hash_ratio(name, max(50, args.archs // 5))
        out.update({f"{name}_{k}": v for k, v in ratio.items()})
        print(
            f"{name} graph_hash vs before: ratio {ratio['hash_ratio_vs_old']:.3f} "
            f"({ratio['hash_ms']:.3f} ms vs {ratio['hash_old_ms']:.3f} ms, same hashes)"
        )
    sp = splice_ratio(max(20, args.archs // 10))
    out.update(sp)
    print(
        f"15 NB-201 cells spliced vs node by node: ratio {sp['splice_ratio_vs_direct']:.3f} "
        f"({sp['splice_ms']:.3f} ms vs {sp['direct_ms']:.3f} ms)"
    )
    space = get_space("nb201")
    dense = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    cases = {"sampled": space.sample(np.random.default_rng(3)), "dense": parse_arch_str(dense)}
    for label, arch in cases.items():
        out.update(
            {
                f"{label}_{k}": v
                for k, v in compare_with_handwritten(space, arch, args.steps).items()
            }
        )
    if args.save:
        from scale_common import save

        save("scale_compile", out, "sample+compile vs a networkx build of the same graphs")
    if args.json:
        print(json.dumps(out))
    else:
        for k, v in out.items():
            print(f"{k:24s} {v:.3f}" if isinstance(v, float) else f"{k:24s} {v}")


if __name__ == "__main__":
    main()

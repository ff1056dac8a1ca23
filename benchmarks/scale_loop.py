"""The tabular search loop with the store on vs raw table lookups and one Parquet write.

Ours: ``nas.search.run`` with regularized evolution on NB-201 (``nb201-cifar10`` table),
``--queries`` proposals, every row appended to a durable ``ResultStore`` at the driver's
checkpoints. Baseline: the same archs looked up in the same in-memory table and their rows
written once with pyarrow. Also times ``Space.mutate`` alone (a share of the loop).

``--profile N`` runs the loop once more under cProfile and prints (and saves) the N functions
with the most time of their own, and the share of the loop spent in ``Space.mutate`` and
``Space.sample``, and the garbage collector's time per generation (a full collection lands
on whatever function happened to allocate, so its time is reported apart).

Run: python benchmarks/scale_loop.py [--queries 5000] [--repeats 3] [--profile 10] [--save]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import pstats
import shutil
import tempfile
import time
import uuid
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from scale_common import compare, line, save, seconds

from nas.bench import TabularEvaluator
from nas.search import run
from nas.space import get_space
from nas.store import SCHEMA


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="print the top N")
    parser.add_argument(
        "--save", action="store_true", help="write benchmarks/results/scale_loop.json"
    )
    args = parser.parse_args()
    space = get_space("nb201")
    evaluator = TabularEvaluator("nb201-cifar10")
    root = tempfile.mkdtemp(prefix="scale-loop-")
    proposed: list[str] = []

    def ours() -> None:
        directory = os.path.join(root, uuid.uuid4().hex)
        out = run(space, "rea", evaluator, budget=args.queries, store=directory, progress=False)
        assert len(out.results) == args.queries
        proposed[:] = [r.arch_id for r in out.results]
        shutil.rmtree(directory)

    ours()  # warm: the table's rows are built once per process, as in any long search

    def baseline() -> None:
        rows = [evaluator.lookup(arch_id).to_row() for arch_id in proposed]
        path = os.path.join(root, f"{uuid.uuid4().hex}.parquet")
        pq.write_table(pa.Table.from_pylist(rows, SCHEMA), path, compression="zstd")
        os.remove(path)

    figures: dict[str, Any] = {"loop": compare(ours, baseline, args.repeats)}
    print(line(f"REA loop, {args.queries} queries", figures["loop"], per=args.queries))
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(1000)]
    mutate_s = seconds(lambda: [space.mutate(a, rng) for a in archs]) / len(archs)
    figures["mutate_us"] = mutate_s * 1e6
    figures["queries_per_s"] = args.queries / figures["loop"]["ours_s"]
    print(f"{'Space.mutate':34s} {mutate_s * 1e6:.1f} us per call")
    if args.profile:
        figures["profile"] = profile(ours, args.profile)
    shutil.rmtree(root)
    if args.save:
        print(
            save(
                "scale_loop", figures, "baseline: raw lookups of the same archs + one Parquet write"
            )
        )


def profile(fn: Any, top: int) -> dict[str, Any]:
    """Run ``fn`` under cProfile: the ``top`` functions by own time, and the space's share."""
    profiler = cProfile.Profile()
    collections: dict[int, list[float]] = {}  # generation -> [collections, seconds]
    started: list[float] = []

    def watch(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[:] = [time.perf_counter()]
        elif started:
            counts = collections.setdefault(info["generation"], [0, 0.0])
            counts[0] += 1
            counts[1] += time.perf_counter() - started[0]

    gc.callbacks.append(watch)
    try:
        profiler.runcall(fn)
    finally:
        gc.callbacks.remove(watch)
    stats = pstats.Stats(profiler).stats  # (file, line, name) -> (cc, calls, own, cumulative, _)
    total = sum(own for _, _, own, _, _ in stats.values())

    def where(key: tuple[str, int, str]) -> str:
        file, lineno, name = key
        short = file.split("/nas/", 1)[-1] if "/nas/" in file else os.path.basename(file)
        return f"{short}:{lineno}({name})" if lineno else name

    rows = sorted(stats.items(), key=lambda kv: -kv[1][2])[:top]
    entries = [
        {"function": where(k), "calls": v[1], "own_share": v[2] / total, "cum_share": v[3] / total}
        for k, v in rows
    ]
    space = {
        name: sum(
            v[3] for k, v in stats.items() if k[0].endswith("space/_space.py") and k[2] == name
        )
        / total
        for name in ("mutate", "sample")
    }
    print(
        f"profile: {total:.2f} s in all; Space.mutate {space['mutate']:.1%}, "
        f"Space.sample {space['sample']:.1%} (cumulative)"
    )
    gc_s = {str(g): {"collections": n, "s": t} for g, (n, t) in sorted(collections.items())}
    print(
        "  gc: " + ", ".join(f"gen {g} {v['collections']}x {v['s']:.3f} s" for g, v in gc_s.items())
    )
    for e in entries:
        print(
            f"  {e['own_share']:6.1%} own {e['cum_share']:6.1%} cum {e['calls']:>7} calls  "
            f"{e['function']}"
        )
    return {"total_s": total, "space_share": space, "gc": gc_s, "top": entries}


if __name__ == "__main__":
    main()

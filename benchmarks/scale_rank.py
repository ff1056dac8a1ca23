"""Streaming ranking at scale: 1M candidates end to end, the share of each stage, peak memory
vs 10k candidates, the first pass against scoring every candidate, batch size and torch
threads, and Ray shards vs one process.

A default-size GENNAPE predictor (64-wide, 3 layers, 4 heads) is fitted for a few epochs on
200 archs of the space (log params as the target: the ranking cost does not depend on what
was learned). Each ranking runs in a fresh process (its peak RSS is its own) with the
defaults of ``nas predictor rank``: past 50,000 candidates the first pass is on (the small
run for the memory comparison asks for the same first pass). ``--exact``
also scores every one of NB-201's 15,625 archs with the model (no first pass) and reports
how many of that top-10 the 1M ranking found. ``--baseline`` also times the ranking code
this replaced (``rank_candidates`` at commit 6793211, loaded from git) on the small count.
CPU seconds are reported beside wall seconds: on a shared machine the wall time is what the
load leaves of the CPU.

Run: python benchmarks/scale_rank.py [--candidates 1000000] [--small 10000]
         [--mobilenet 1000000] [--exact] [--ray] [--save]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scale_common import save

from nas.predictors import GennapePredictor, PredictorConfig, featurize, rank_candidates
from nas.space import get_space

ROOT = Path(__file__).resolve().parent.parent
OLD_RANK = "6793211"


def fit_model(space_name: str, directory: str) -> str:
    space = get_space(space_name)
    rng = np.random.default_rng(0)
    graphs = [space.compile(space.sample(rng)) for _ in range(200)]
    model = GennapePredictor(PredictorConfig(epochs=3)).fit(
        graphs, np.log([g.params for g in graphs])
    )
    return str(model.save(Path(directory) / f"model-{space_name}"))


def old_rank() -> Any:
    source = subprocess.run(
        ["git", "show", f"{OLD_RANK}:predictors/_rank.py"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    module = types.ModuleType("old_rank")
    sys.modules["old_rank"] = module  # dataclasses look their module up
    exec(compile(source, "old_rank.py", "exec"), module.__dict__)
    return module.rank_candidates


def child(args: argparse.Namespace) -> None:
    """One ranking in this process; prints JSON with its seconds and peak RSS."""
    torch.set_num_threads(1)
    model = GennapePredictor.load(args.model)
    space = get_space(args.space)
    rank = old_rank() if args.old else rank_candidates
    extra: dict[str, Any] = {}
    if not args.old:
        extra = {"survivors": args.survivors, "enumerate_all": args.enumerate}
        if args.calibration:
            extra["calibration"] = args.calibration
    rss_before = rss_mb("VmRSS")
    start, cpu = time.perf_counter(), time.process_time()
    r = rank(space, args.n, 10, model=model, rng=np.random.default_rng(0), **extra)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    stages = {k: v for k, v in r.seconds.items() if k != "total"}
    out = {
        "n": r.candidates, "unique": r.unique, "distinct": getattr(r, "distinct", None),
        "wall_s": wall, "cpu_s": cpu, "per_s": r.candidates / wall,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_before_mb": rss_before, "rss_after_mb": rss_mb("VmRSS"),
        "seconds": r.seconds,
        "share": {k: v / max(r.seconds["total"], 1e-9) for k, v in stages.items()},
        "top": [a.arch_id for a, _, _ in r.top],
        "first_pass": getattr(r, "first_pass", None),
    }  # fmt: skip
    print(json.dumps(out))


def rss_mb(field: str) -> float | None:
    """``VmRSS`` (now) or ``VmHWM`` (peak) of this process in MB; None off Linux."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def run_child(
    model: str, space: str, n: int, *, old: bool = False, survivors: int | None = None,
    calibration: int = 0, enumerate_all: bool = False,
) -> Any:  # fmt: skip
    cmd = [sys.executable, __file__, "--child", "--model", model, "--space", space, "-n", str(n)]
    if old:
        cmd.append("--old")
    if survivors is not None:
        cmd += ["--survivors", str(survivors)]
    if calibration:
        cmd += ["--calibration", str(calibration)]
    if enumerate_all:
        cmd.append("--enumerate")
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT).stdout
    return json.loads(out.splitlines()[-1])


def describe(label: str, fig: dict[str, Any]) -> str:
    shares = ", ".join(
        f"{k} {v:.0%}" for k, v in sorted(fig["share"].items(), key=lambda kv: -kv[1]) if v >= 0.005
    )
    fp = fig.get("first_pass") or {}
    first = (
        f"; first pass kept {fp['survivors']} of {fp['scored']} (calibration "
        f"{fp['calibration']}, Spearman {fp['calibration_spearman']:.3f})"
        if fp
        else ""
    )
    return (
        f"{label}: {fig['n']:,} candidates in {fig['wall_s']:.1f} s wall / {fig['cpu_s']:.1f} s "
        f"CPU ({fig['per_s']:,.0f}/s), distinct {fig['distinct']}, peak RSS "
        f"{fig['peak_rss_mb']:.0f} MB{first}\n    stages: {shares}"
    )


def batch_and_threads(model_dir: str) -> dict[str, Any]:
    """Forward time per graph by batch size and thread count, on fixed featurized graphs."""
    model = GennapePredictor.load(model_dir)
    space = get_space("nb201")
    rng = np.random.default_rng(1)
    feats = [featurize(space.compile(space.sample(rng)), model.spec) for _ in range(512)]
    out: dict[str, Any] = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for batch in (16, 64, 256, 512):
            times = []
            for _ in range(3):
                start = time.perf_counter()
                for i in range(0, len(feats), batch):
                    model.predict(feats[i : i + batch], chunk=batch)
                times.append((time.perf_counter() - start) / len(feats))
            out[f"threads{threads}_batch{batch}_us"] = float(np.median(times) * 1e6)
    torch.set_num_threads(1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--mobilenet", type=int, default=1_000_000)
    parser.add_argument("--check", type=int, default=5_000, help="mobilenet first-pass check")
    parser.add_argument("--exact", action="store_true", help="score all of NB-201 too")
    parser.add_argument("--baseline", action="store_true", help="also time the old ranking")
    parser.add_argument("--ray", action="store_true", help="also rank over 2 Ray shards")
    parser.add_argument("--save", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--old", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--enumerate", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--space", default="nb201", help=argparse.SUPPRESS)
    parser.add_argument("-n", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--survivors", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--calibration", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    figures: dict[str, Any] = {"load_avg_start": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory() as tmp:
        for name, n in (("nb201", args.candidates), ("mobilenet", args.mobilenet)):
            model = fit_model(name, tmp)
            # the small run takes the first pass the large one gets by default: like for like
            small = run_child(model, name, args.small, survivors=2048)
            large = run_child(model, name, n)
            figures[f"{name}_small"], figures[f"{name}_large"] = small, large
            ratio = large["peak_rss_mb"] / small["peak_rss_mb"]
            figures[f"{name}_rss_ratio_large_vs_small"] = ratio
            print(
                f"{name} peak RSS {n:,} vs {args.small:,} candidates: ratio {ratio:.3f}; RSS "
                f"before -> after ranking {large['rss_before_mb']:.0f} -> "
                f"{large['rss_after_mb']:.0f} MB vs {small['rss_before_mb']:.0f} -> "
                f"{small['rss_after_mb']:.0f} MB"
            )
            print("  " + describe(f"{name} {n:,}", large))
            print("  " + describe(f"{name} {args.small:,}", small))
            if name == "nb201" and args.exact:
                exact = run_child(model, name, 0, survivors=0, enumerate_all=True)
                figures["nb201_exact"] = exact
                found = len(set(exact["top"]) & set(large["top"]))
                figures["nb201_first_pass_top10_found"] = found
                print("  " + describe("nb201 every arch, no first pass", exact))
                print(f"  the 1M ranking found {found} of the exact top-10")
            if name == "nb201" and args.baseline:
                old = run_child(model, name, args.small, old=True)
                figures["nb201_old_small"] = old
                print(
                    f"  {args.small:,} new vs old ranking: ratio "
                    f"{small['wall_s'] / old['wall_s']:.3f} ({small['wall_s']:.1f} s vs "
                    f"{old['wall_s']:.1f} s)"
                )
            if name == "mobilenet":
                full = run_child(model, name, args.check, survivors=0)
                cheap = run_child(
                    model, name, args.check, survivors=args.check // 10,
                    calibration=args.check // 10,
                )  # fmt: skip
                figures["mobilenet_check_full"], figures["mobilenet_check_first_pass"] = full, cheap
                overlap = len(set(full["top"]) & set(cheap["top"]))
                figures["mobilenet_check_top10_overlap"] = overlap
                print(
                    f"  mobilenet {args.check:,}: first pass (10% calibrate, 10% survive) vs "
                    f"every candidate: ratio {cheap['wall_s'] / full['wall_s']:.3f}; top-10 "
                    f"overlap {overlap}/10"
                )
            if name == "nb201":
                bt = batch_and_threads(model)
                figures["forward_us_per_graph"] = bt
                print("  forward us/graph: " + ", ".join(f"{k}={v:.0f}" for k, v in bt.items()))
                if args.ray:
                    figures["ray"] = ray_vs_one(model, args.small)
    figures["load_avg_end"] = os.getloadavg()[0]
    if args.save:
        print(save("scale_rank", figures, "each ranking in a fresh process; seconds are wall"))


def ray_vs_one(model_dir: str, n: int) -> dict[str, Any]:
    model = GennapePredictor.load(model_dir)
    space = get_space("nb_macro")
    kwargs: dict[str, Any] = {"model": model, "rng": np.random.default_rng(0)}
    start = time.perf_counter()
    one = rank_candidates(space, n, 10, **kwargs)
    one_s = time.perf_counter() - start
    start = time.perf_counter()
    spread = rank_candidates(space, n, 10, ray=True, shards=2, **kwargs)
    ray_s = time.perf_counter() - start
    print(
        f"nb_macro {n:,} on 2 Ray shards vs one process: ratio {ray_s / one_s:.3f} "
        f"({ray_s:.1f} s incl. Ray start vs {one_s:.1f} s)"
    )
    same = [a.arch_id for a, _, _ in one.top] == [a.arch_id for a, _, _ in spread.top]
    print(f"  (sampling shards draw their own candidates; same top-10 as one process: {same})")
    return {"one_s": one_s, "ray_s": ray_s, "n": n, "shards": 2, "same_top": same}


if __name__ == "__main__":
    main()

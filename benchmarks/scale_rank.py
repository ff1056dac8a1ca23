"""Streaming ranking at scale: throughput, peak memory vs candidate count, batch size and
torch threads, the cheap first pass, and Ray shards vs one process.

A default-size GENNAPE predictor (64-wide, 3 layers, 4 heads) is fitted for a few epochs on
200 NB-201 archs (log params as the target: the ranking cost does not depend on what was
learned). ``--baseline`` also times the ranking code this replaced (``rank_candidates`` at
commit 6793211, loaded from git) on the same candidates: ratio first. Peak RSS is measured
in a fresh process per candidate count.

Run: python benchmarks/scale_rank.py [--candidates 100000] [--small 10000] [--ray] [--save]
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
        extra = {"survivors": args.survivors, "calibration": args.calibration}
    start = time.perf_counter()
    r = rank(space, args.n, 10, model=model, rng=np.random.default_rng(0), **extra)
    wall = time.perf_counter() - start
    out = {
        "n": args.n, "unique": r.unique, "wall_s": wall, "per_s": args.n / wall,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "seconds": r.seconds, "top": [a.arch_id for a, _, _ in r.top],
        "first_pass": getattr(r, "first_pass", None),
    }  # fmt: skip
    print(json.dumps(out))


def run_child(model: str, space: str, n: int, *, old: bool = False, survivors: int = 0) -> Any:
    cmd = [sys.executable, __file__, "--child", "--model", model, "--space", space, "-n", str(n)]
    if old:
        cmd.append("--old")
    if survivors:
        cmd += ["--survivors", str(survivors), "--calibration", str(max(64, n // 10))]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT).stdout
    return json.loads(out.splitlines()[-1])


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
    parser.add_argument("--candidates", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--mobilenet", type=int, default=5_000)
    parser.add_argument("--baseline", action="store_true", help="also time the old ranking")
    parser.add_argument("--ray", action="store_true", help="also rank over 2 Ray shards")
    parser.add_argument("--save", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--old", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--space", default="nb201", help=argparse.SUPPRESS)
    parser.add_argument("-n", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--survivors", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--calibration", type=int, default=2048, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.survivors = args.survivors or None
        return child(args)
    figures: dict[str, Any] = {"load_avg_start": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory() as tmp:
        nb201 = fit_model("nb201", tmp)
        small = run_child(nb201, "nb201", args.small)
        large = run_child(nb201, "nb201", args.candidates)
        figures["nb201_small"], figures["nb201_large"] = small, large
        figures["rss_ratio_large_vs_small"] = large["peak_rss_mb"] / small["peak_rss_mb"]
        print(
            f"nb201 peak RSS {args.candidates:,} vs {args.small:,}: ratio "
            f"{figures['rss_ratio_large_vs_small']:.3f} ({large['peak_rss_mb']:.0f} MB vs "
            f"{small['peak_rss_mb']:.0f} MB); {large['per_s']:,.0f} candidates/s "
            f"({large['unique']} unique), 1M at this rate: {1e6 / large['per_s']:.0f} s"
        )
        if args.baseline:
            old = run_child(nb201, "nb201", args.small, old=True)
            figures["nb201_old_small"] = old
            same = old["top"] == small["top"]
            print(
                f"nb201 {args.small:,} new vs old ranking: ratio "
                f"{small['wall_s'] / old['wall_s']:.3f} ({small['wall_s']:.1f} s vs "
                f"{old['wall_s']:.1f} s), peak RSS {small['peak_rss_mb']:.0f} MB vs "
                f"{old['peak_rss_mb']:.0f} MB, same top-10: {same}"
            )
        mobile = fit_model("mobilenet", tmp)
        full = run_child(mobile, "mobilenet", args.mobilenet)
        cheap = run_child(mobile, "mobilenet", args.mobilenet, survivors=args.mobilenet // 10)
        figures["mobilenet_full"], figures["mobilenet_first_pass"] = full, cheap
        overlap = len(set(full["top"]) & set(cheap["top"]))
        print(
            f"mobilenet {args.mobilenet:,}, first pass (10% calibrate, 10% survive) vs every candidate: ratio "
            f"{cheap['wall_s'] / full['wall_s']:.3f} ({cheap['per_s']:,.0f}/s vs "
            f"{full['per_s']:,.0f}/s); top-10 overlap {overlap}/10, first-pass Spearman "
            f"{cheap['first_pass']['calibration_spearman']:.3f}"
        )
        bt = batch_and_threads(nb201)
        figures["forward_us_per_graph"] = bt
        best = min(bt, key=bt.get)
        print("forward us/graph: " + ", ".join(f"{k}={v:.0f}" for k, v in bt.items()))
        print(f"fastest: {best}")
        if args.ray:
            figures["ray"] = ray_vs_one(nb201, args.small)
    if args.save:
        print(save("scale_rank", figures, "peak RSS from a fresh process per run"))


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

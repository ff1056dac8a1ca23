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

``--ray`` (only this, saved as ``scale_rank_ray.json``) ranks NB-201 at each of
``--ray-sizes`` in a fresh process three ways, interleaved ``--repeats`` times: one process,
embedded Ray (started by the ranking, its start-up in the wall time), and a 2-node
localhost cluster (``ray start --head`` plus a second ``ray start --address`` node, each
with ``--num-cpus 1``, started once; stopped by signalling the two ``ray start --block``
processes, not ``ray stop``, which would stop every Ray on the machine), each with
``--shards 2``; it reports each one's throughput as a ratio to one process's and whether its
top-10 (ids and stream positions) equals one process's.

Run: python benchmarks/scale_rank.py [--candidates 1000000] [--small 10000]
         [--mobilenet 1000000] [--exact] [--save]
     python benchmarks/scale_rank.py --ray [--ray-sizes 200000,1000000] [--repeats 2] --save
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import signal
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
        if args.shards:
            extra.update(ray=True, shards=args.shards, address=args.address)
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
        "indices": getattr(r, "indices", None),
        "shards": getattr(r, "shards", 0),
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
    calibration: int = 0, enumerate_all: bool = False, shards: int = 0,
    address: str | None = None,
) -> Any:  # fmt: skip
    cmd = [sys.executable, __file__, "--child", "--model", model, "--space", space, "-n", str(n)]
    if shards:
        cmd += ["--shards", str(shards)] + (["--address", address] if address else [])
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
    parser.add_argument("--ray", action="store_true", help="only Ray vs one process")
    parser.add_argument("--ray-sizes", default="200000,1000000", help="NB-201 counts for --ray")
    parser.add_argument("--ray-port", type=int, default=6391, help="the local cluster's head")
    parser.add_argument("--repeats", type=int, default=2, help="--ray: interleaved repeats")
    parser.add_argument("--save", action="store_true")
    parser.add_argument("--shards", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--address", default=None, help=argparse.SUPPRESS)
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
    if args.ray:
        return ray_main(args)
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
    figures["load_avg_end"] = os.getloadavg()[0]
    if args.save:
        print(save("scale_rank", figures, "each ranking in a fresh process; seconds are wall"))


def ray_main(args: argparse.Namespace) -> None:
    sizes = [int(v) for v in args.ray_sizes.split(",")]
    figures: dict[str, Any] = {"load_avg_start": os.getloadavg()[0], "sizes": sizes}
    address = f"127.0.0.1:{args.ray_port}"
    with tempfile.TemporaryDirectory() as tmp:
        model = fit_model("nb201", tmp)
        nodes = local_cluster(args.ray_port, Path(tmp))
        try:
            for n in sizes:
                runs: dict[str, list[Any]] = {"one": [], "embedded": [], "cluster": []}
                for _ in range(args.repeats):  # interleaved: the load hits each alike
                    runs["one"].append(run_child(model, "nb201", n))
                    runs["embedded"].append(run_child(model, "nb201", n, shards=2))
                    runs["cluster"].append(run_child(model, "nb201", n, shards=2, address=address))
                figures[f"nb201_{n}"] = ray_summary(n, runs)
        finally:
            stop_cluster(nodes)
    figures["load_avg_end"] = os.getloadavg()[0]
    if args.save:
        note = (
            "each ranking in a fresh process, wall seconds including Ray's start-up (embedded) "
            "or joining (cluster); throughput ratio = one process's wall / this wall (> 1: "
            "faster); median of the repeats; first pass on by default at these sizes"
        )
        print(save("scale_rank_ray", figures, note))


def ray_summary(n: int, runs: dict[str, list[Any]]) -> dict[str, Any]:
    one_wall = float(np.median([r["wall_s"] for r in runs["one"]]))
    reference = runs["one"][0]
    out: dict[str, Any] = {"one_process_wall_s": one_wall, "runs": runs}
    for how in ("embedded", "cluster"):
        wall = float(np.median([r["wall_s"] for r in runs[how]]))
        same = all(
            r["top"] == reference["top"] and r["indices"] == reference["indices"]
            for r in runs[how] + runs["one"]
        )
        ray_start = float(np.median([r["seconds"].get("ray_start", 0.0) for r in runs[how]]))
        out[how] = {
            "wall_s": wall,
            "throughput_ratio_vs_one": one_wall / wall,
            "ray_start_s": ray_start,
            "same_top10_as_one_process": same,
            "shards": runs[how][0]["shards"],
        }
        print(
            f"nb201 {n:,} {how} Ray, 2 shards: throughput ratio vs one process "
            f"{one_wall / wall:.3f} ({wall:.1f} s, of which Ray start {ray_start:.1f} s, vs "
            f"{one_wall:.1f} s); same top-10 as one process: {same}"
        )
    return out


def local_cluster(port: int, tmp: Path) -> list[subprocess.Popen[bytes]]:
    """A head and a second node on this machine, one CPU each, each a ``ray start --block``
    in its own session (every process it starts stays in that session)."""
    # `ray start` turns token authentication on when Ray's default token exists, and a driver
    # joining by address only sends it in token mode: the nodes and every ranking driver
    # (these children inherit it) run in the same mode
    os.environ.setdefault("RAY_AUTH_MODE", "token")
    import ray

    ray_cli = str(Path(sys.executable).with_name("ray"))
    common = ["--num-cpus", "1", "--object-store-memory", str(200 * 2**20)]
    common += ["--disable-usage-stats", "--block"]
    head = [ray_cli, "start", "--head", "--port", str(port), "--include-dashboard", "false"]
    second = [ray_cli, "start", "--address", f"127.0.0.1:{port}"]
    nodes = []
    for i, cmd in enumerate((head, second)):
        log = open(tmp / f"ray-node-{i}.log", "wb")  # noqa: SIM115  (closed with the node)
        nodes.append(subprocess.Popen(cmd + common, stdout=log, stderr=log, start_new_session=True))
        if i == 0:
            time.sleep(5)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        time.sleep(2)
        with contextlib.suppress(Exception):
            ray.init(address=f"127.0.0.1:{port}", log_to_driver=False)
            alive = sum(node["Alive"] for node in ray.nodes())
            ray.shutdown()
            if alive == 2:
                return nodes
    stop_cluster(nodes)
    raise RuntimeError(f"the 2-node Ray cluster on port {port} did not start (logs in {tmp})")


def stop_cluster(nodes: list[subprocess.Popen[bytes]]) -> None:
    """Signal each node's ``ray start --block`` (it stops what it started), newest first."""
    for node in reversed(nodes):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(node.pid, signal.SIGTERM)
        try:
            node.wait(timeout=60)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(node.pid, signal.SIGKILL)
            node.wait()
        with contextlib.suppress(ProcessLookupError):  # agents a failed drain left (they
            os.killpg(node.pid, signal.SIGKILL)  # ignore SIGTERM once their raylet is gone)


if __name__ == "__main__":
    main()

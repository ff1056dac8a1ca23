"""A transformer-space search on CPU against a fixed hand-designed transformer.

Protocol (one run, one ``--label`` in ``benchmarks/results/transformer_search.json``):

1. Search: ``nas search --space transformer --dataset mnist1d --executor local`` (MNIST-1D as
   patch tokens, the same CLI path every search takes) with low-fidelity trials
   (``--search-epochs``, 6 by default), so a time budget of minutes tries hundreds of
   candidates. ``--similar-size`` adds ``--constraint params<=P``, P the hand-designed net's.
2. Pick: the ``--top`` best distinct architectures (by graph hash) by the search's validation
   accuracy; the final recipe is the best trial's searched recipe (lr, weight decay, label
   smoothing, augmentation) with ``--final-epochs``.
3. Retrain those archs and the hand-designed one
   (``nas.search_spaces.transformer.hand_designed``: patch 4, width 64, 2 layers x 4 heads,
   FFN ratio 2) with that one recipe, through ``nas train``, on each of ``--seeds`` (none of
   them the search's seed), and report mean +- std validation and test accuracy and params.
   The search's answer is the candidate with the best mean final *validation* accuracy; test
   accuracy is only reported, never used to choose.

Usage:
    python benchmarks/transformer_search.py --budget 18m --label unconstrained
    python benchmarks/transformer_search.py --budget 18m --similar-size --label similar_size
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from scale_common import machine

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "transformer_search.json"
METRICS = ("val_accuracy", "test_accuracy", "params", "flops", "train_seconds")


def _nas(*args: str) -> dict[str, Any]:
    cmd = [str(Path(sys.executable).parent / "nas"), *args, "--json"]  # the installed CLI
    # one torch thread per trial: two threads on a shared 2-core machine run ~10x slower
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


def _arch_values(arch: str | dict[str, Any]) -> dict[str, Any]:
    arch = json.loads(arch) if isinstance(arch, str) else arch
    return dict(arch.get("values", arch))


def top_archs(store: Path, k: int, max_params: float | None) -> list[dict[str, Any]]:
    """The ``k`` best distinct graphs of a search store by validation accuracy (feasible rows).

    Each entry has the arch values, its graph hash, params and the search's metrics.
    """
    from nas.store import ResultStore

    rows = ResultStore(store).top("val_accuracy", k=1_000_000).to_pylist()
    picked: dict[str, dict[str, Any]] = {}
    for row in rows:
        if max_params is not None and row["params"] > max_params:
            continue
        if row["graph_hash"] not in picked:
            search = {m: row[m] for m in ("val_accuracy", "test_accuracy", "fidelity")}
            picked[row["graph_hash"]] = {
                "arch": _arch_values(row["arch"]),
                "graph_hash": row["graph_hash"],
                "params": row["params"],
                "search": search,
            }
        if len(picked) == k:
            break
    return list(picked.values())


def _mean_std(values: list[float]) -> dict[str, float]:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return {"mean": round(statistics.fmean(values), 2), "std": round(std, 2)}


def _retrain(values: Mapping[str, Any], seeds: list[int], epochs: int, tmp: Path) -> dict[str, Any]:
    arch_file = tmp / f"arch-{len(list(tmp.iterdir()))}.json"
    arch_file.write_text(json.dumps(values))
    per_seed: list[dict[str, Any]] = []
    for seed in seeds:
        out = _nas(
            "train", "transformer", "--arch", f"@{arch_file}", "--dataset", "mnist1d",
            "--epochs", str(epochs), "--seed", str(seed), "--threads", "1",
        )  # fmt: skip
        per_seed.append({"seed": seed, **{m: out.get(m) for m in METRICS}})
    return {
        "params": per_seed[0]["params"],
        "val_accuracy": _mean_std([r["val_accuracy"] for r in per_seed]),
        "test_accuracy": _mean_std([r["test_accuracy"] for r in per_seed]),
        "per_seed": per_seed,
    }


def _line(name: str, params: int, final: dict[str, Any]) -> str:
    val, test = final["val_accuracy"], final["test_accuracy"]
    return (
        f"{name:<16} {params:>8,} params  val {val['mean']:5.1f} +- {val['std']:.1f}  "
        f"test {test['mean']:5.1f} +- {test['std']:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", default="18m", help="nas search --budget (evaluations or time)")
    parser.add_argument("--search-epochs", type=int, default=6, help="epochs of a search trial")
    parser.add_argument("--final-epochs", type=int, default=40, help="epochs of every retrain")
    parser.add_argument("--top", type=int, default=3, help="searched archs retrained")
    parser.add_argument("--seeds", default="1,2,3", help="retraining seeds (not the search's)")
    parser.add_argument("--strategy", default="rea")
    parser.add_argument("--option", action="append", default=[], help="nas search --option")
    parser.add_argument(
        "--similar-size", action="store_true", help="constrain params to the hand-designed's"
    )
    parser.add_argument("--label", default="search", help="key of this run in the results file")
    parser.add_argument("--seed", type=int, default=0, help="search seed")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    if args.seed in seeds:
        raise SystemExit(f"--seeds {args.seeds} must not hold the search's --seed {args.seed}")
    from nas.search_spaces.transformer import hand_designed, transformer

    space = transformer()
    any_recipe = space.sample(np.random.default_rng(0)).values  # params do not depend on it
    hand_params = space.compile(hand_designed(space, any_recipe)).params
    constraint = [f"params<={hand_params}"] if args.similar_size else []
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        store = tmp / "store"
        # every `nas train` process reads one generated copy of MNIST-1D instead of regenerating it
        os.environ.setdefault("NAS_CACHE_DIR", str(tmp / "cache"))
        start = time.perf_counter()
        search = _nas(
            "search", "--space", "transformer", "--dataset", "mnist1d",
            "--strategy", args.strategy, "--budget", str(args.budget), "--seed", str(args.seed),
            "--executor", "local", "--epochs", str(args.search_epochs), "--store", str(store),
            *(x for o in args.option for x in ("--option", o)),
            *(x for c in constraint for x in ("--constraint", c)),
        )  # fmt: skip
        search_seconds = time.perf_counter() - start
        best = _arch_values(search["best"]["arch"])
        recipe = {k: v for k, v in best.items() if k.startswith("recipe.")}
        candidates = top_archs(store, args.top, hand_params if args.similar_size else None)
        (tmp / "archs").mkdir()
        start = time.perf_counter()
        for c in candidates:
            archs = {k: v for k, v in c["arch"].items() if not k.startswith("recipe.")}
            c["arch"] = space.arch({**archs, **recipe}).values
            c["final"] = _retrain(c["arch"], seeds, args.final_epochs, tmp / "archs")
        hand_arch = hand_designed(space, recipe).values
        hand = _retrain(hand_arch, seeds, args.final_epochs, tmp / "archs")
        retrain_seconds = time.perf_counter() - start
    pick = max(candidates, key=lambda c: c["final"]["val_accuracy"]["mean"])
    gap = pick["final"]["test_accuracy"]["mean"] - hand["test_accuracy"]["mean"]
    comparison = {
        "search_pick": candidates.index(pick),
        "test_accuracy_gain_points": round(gap, 2),
        "params_ratio": round(pick["final"]["params"] / hand["params"], 2),
    }
    report = {
        "figure": "transformer-space search vs a hand-designed transformer, MNIST-1D as tokens",
        "command": f"python benchmarks/transformer_search.py --budget {args.budget} "
        f"--search-epochs {args.search_epochs} --final-epochs {args.final_epochs} "
        f"--top {args.top} --seeds {args.seeds} --strategy {args.strategy} --seed {args.seed}"
        + "".join(f" --option {o}" for o in args.option)
        + (" --similar-size" if args.similar_size else "")
        + f" --label {args.label}",
        "dataset": "mnist1d (1 x 40 signal cut into patch tokens), 10 classes; "
        "3601 train / 399 val / 1000 test",
        "protocol": f"search trials at {args.search_epochs} epochs; top {args.top} distinct "
        f"graphs by search val accuracy and the hand-designed net retrained with the best "
        f"trial's recipe at {args.final_epochs} epochs on seeds {args.seeds}; the search's "
        "pick is the candidate with the best mean final val accuracy (test only reported)",
        "search": {
            "strategy": args.strategy,
            "constraint": constraint,
            "trials": search["evaluations"],
            "trained": search["trained"],
            "statuses": search["statuses"],
            "wall_seconds": round(search_seconds, 1),
        },
        "final_recipe": recipe,
        "final_epochs": args.final_epochs,  # nas train --epochs: overrides recipe.epochs
        "candidates": candidates,
        "hand_designed": {"arch": hand_arch, "final": hand},
        "comparison": comparison,
        "retrain_wall_seconds": round(retrain_seconds, 1),
        "machine": {
            **machine(),
            "load_avg_1m_start": round(load_start, 2),
            "executor": "in-process (nas search --executor local), 1 torch thread",
        },
    }
    runs = json.loads(args.out.read_text()).get("runs", {}) if args.out.exists() else {}
    runs[args.label] = report
    args.out.write_text(json.dumps({"runs": runs}, indent=1) + "\n")
    s = report["search"]
    print(f"{args.label}: {s['trials']} trials in {s['wall_seconds']:.0f} s, {s['statuses']}")
    for i, c in enumerate(candidates):
        mark = " <- pick" if c is pick else ""
        print(_line(f"search #{i + 1}", c["final"]["params"], c["final"]) + mark)
    print(_line("hand-designed", hand["params"], hand))
    print(
        f"search pick - hand-designed: {gap:+.2f} test points "
        f"at {comparison['params_ratio']}x the params"
    )


if __name__ == "__main__":
    main()

"""A transformer-space search on CPU against a fixed hand-designed transformer.

Runs ``nas search --space transformer --dataset mnist1d`` (MNIST-1D as a token sequence, the
same CLI path every search takes), then trains the hand-designed ViT-like arch of the same space
(``nas.search_spaces.transformer.hand_designed``: patch 4, width 64, 2 layers x 4 heads, FFN
ratio 2) with the recipe of the search's best trial through ``nas train``, so both are trained
the same way; writes ``benchmarks/results/transformer_search.json``.

Usage:
    python benchmarks/transformer_search.py --budget 10 --epochs 15
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "transformer_search.json"


def _nas(*args: str) -> dict[str, Any]:
    cmd = [str(Path(sys.executable).parent / "nas"), *args, "--json"]  # the installed CLI
    # one torch thread per trial: two threads on a shared 2-core machine run ~10x slower
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


def _values(arch: dict[str, Any]) -> dict[str, Any]:
    return dict(arch.get("values", arch))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", default="10", help="nas search --budget (evaluations or time)")
    parser.add_argument("--epochs", type=int, default=15, help="epochs for every trained arch")
    parser.add_argument("--strategy", default="rea")
    parser.add_argument("--option", action="append", default=[], help="nas search --option")
    parser.add_argument("--constraint", action="append", default=[], help="nas search --constraint")
    parser.add_argument("--label", default="search", help="key of this run in the results file")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    from nas.search_spaces.transformer import hand_designed, transformer

    space = transformer()
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "store"
        start = time.perf_counter()
        search = _nas(
            "search", "--space", "transformer", "--dataset", "mnist1d",
            "--strategy", args.strategy, "--budget", str(args.budget), "--seed", str(args.seed),
            "--executor", "local", "--epochs", str(args.epochs), "--store", str(store),
            *(x for o in args.option for x in ("--option", o)),
            *(x for c in args.constraint for x in ("--constraint", c)),
        )  # fmt: skip
        search_seconds = time.perf_counter() - start
        best = search["best"]
        recipe = {k: v for k, v in _values(best["arch"]).items() if k.startswith("recipe.")}
        arch = hand_designed(space, recipe)
        arch_file = Path(tmp) / "hand.json"
        arch_file.write_text(json.dumps(arch.values))
        start = time.perf_counter()
        hand = _nas(
            "train", "transformer", "--arch", f"@{arch_file}", "--dataset", "mnist1d",
            "--epochs", str(args.epochs), "--seed", str(args.seed), "--threads", "1",
        )  # fmt: skip
        hand_seconds = time.perf_counter() - start
    report = {
        "figure": "transformer-space search vs a hand-designed transformer, MNIST-1D as tokens",
        "command": f"python benchmarks/transformer_search.py --budget {args.budget} "
        f"--epochs {args.epochs} --strategy {args.strategy} --seed {args.seed}"
        + "".join(f" --option {o}" for o in args.option)
        + "".join(f" --constraint {c}" for c in args.constraint),
        "dataset": "mnist1d (1 x 40 signal cut into patch tokens), 10 classes",
        "search": {
            "strategy": args.strategy,
            "trials": search["evaluations"],
            "trained": search["trained"],
            "statuses": search["statuses"],
            "wall_seconds": round(search_seconds, 1),
            "best_arch": _values(best["arch"]),
            "best": best["metrics"],
        },
        "hand_designed": {
            "arch": arch.values,
            "recipe": "the search's best trial's recipe (same epochs override)",
            "metrics": {
                k: hand.get(k)
                for k in ("val_accuracy", "test_accuracy", "params", "flops", "train_seconds")
            },
            "wall_seconds": round(hand_seconds, 1),
        },
        "machine": "shared 2-core CPU (other jobs running), in-process executor, 1 torch thread",
    }
    runs = json.loads(args.out.read_text()).get("runs", {}) if args.out.exists() else {}
    runs[args.label] = report
    args.out.write_text(json.dumps({"runs": runs}, indent=1) + "\n")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()

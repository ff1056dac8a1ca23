"""One-shot search checked against stand-alone training, on MNIST-1D (nothing downloaded).

Space ``nb201_1d`` (the NB-201 cell with 1-D convs, two cells, 8/16 channels; 15,625 archs).
One CPU thread (``torch.set_num_threads(1)``); compute is measured in process CPU seconds
(the machine is shared, so wall time is reported beside it but not used to match budgets).

Phases (each writes its JSON and can be run alone):

``standalone``: ``--archs`` distinct archs drawn uniformly (seed 0), each trained from
    scratch with one recipe (AdamW, lr 0.02, wd 5e-4, batch 128, ``--epochs`` epochs, seed 0);
    best-epoch validation accuracy and that epoch's test accuracy
    -> ``benchmarks/results/oneshot_standalone.json``.
``search``: for each seed, ``darts``, ``beta_darts`` and ``spos`` (``--oneshot-epochs``
    supernet epochs); the derived arch is trained stand-alone with the table's recipe and
    placed in the table (percentile of its test accuracy); random search and REA (real
    stand-alone training, same recipe) get the CPU seconds the one-shot search of that seed
    took on average; the seed-0 supernets score every table arch by inherited validation
    accuracy -> Kendall tau against stand-alone validation accuracy
    -> ``benchmarks/results/oneshot.json``.

Run: python benchmarks/oneshot.py standalone [--archs 200] [--epochs 4]
     python benchmarks/oneshot.py search [--seeds 0 1 2] [--oneshot-epochs 10]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import torch
from scipy.stats import kendalltau, spearmanr

from nas.data import get_dataset
from nas.oneshot import METHODS, OneShotConfig, Scorer, search
from nas.search import get_strategy
from nas.space import Arch, Space, get_space
from nas.train import train

RESULTS = Path(__file__).parent / "results"
SPACE, DATASET = "nb201_1d", "mnist1d"
PARAMETER_FREE = {"none", "skip_connect", "avg_pool_3x3"}


def recipe(epochs: int) -> dict[str, Any]:
    return {"optimizer": "adamw", "lr": 0.02, "weight_decay": 5e-4, "batch_size": 128,
            "epochs": epochs}  # fmt: skip


def train_standalone(space: Space, arch: Arch, data: Any, epochs: int) -> dict[str, Any]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = train(lambda: space.to_torch(arch), data, recipe(epochs), seed=0, device="cpu")
    return {
        "arch": arch.json_values(),
        "arch_id": arch.arch_id,
        "params": int(space.compile(arch).params),
        "status": out.status,
        "val_accuracy": out.best_val_accuracy,
        "test_accuracy": out.best_test_accuracy,
        "cpu_seconds": round(time.process_time() - cpu, 3),
        "wall_seconds": round(time.perf_counter() - wall, 3),
    }


def _write(name: str, payload: dict[str, Any]) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / name).write_text(json.dumps(payload, indent=1) + "\n")


def standalone(args: argparse.Namespace) -> None:
    space, data = get_space(SPACE), get_dataset(DATASET)
    path = RESULTS / "oneshot_standalone.json"
    rows: list[dict[str, Any]] = []
    if path.is_file():  # continue an interrupted table
        rows = json.loads(path.read_text())["rows"]
    rng, archs, seen = np.random.default_rng(0), [], set()
    while len(archs) < args.archs:
        arch = space.sample(rng)
        if arch.arch_id not in seen:
            seen.add(arch.arch_id)
            archs.append(arch)
    done = {r["arch_id"] for r in rows}
    for i, arch in enumerate(archs):
        if arch.arch_id in done:
            continue
        rows.append(train_standalone(space, arch, data, args.epochs))
        if len(rows) % 10 == 0 or i == len(archs) - 1:
            _write("oneshot_standalone.json", _table(rows, args))
            print(f"{len(rows)}/{len(archs)} archs", flush=True)


def _table(rows: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    return {
        "what": "stand-alone ground truth for the one-shot check",
        "space": SPACE,
        "dataset": f"{DATASET} (nas.data defaults: 3601 train / 399 val / 1000 test)",
        "sampling": "distinct archs drawn uniformly with numpy default_rng(0), in that order",
        "recipe": recipe(args.epochs),
        "training_seed": 0,
        "metric": "val_accuracy: best epoch; test_accuracy: that epoch (percent)",
        "torch_threads": torch.get_num_threads(),
        "host": platform.node(),
        "torch": torch.__version__,
        "archs": len(rows),
        "rows": rows,
    }


def _percentile(value: float, table: list[float]) -> float:
    return round(100.0 * float(np.mean([t <= value for t in table])), 1)


def _baseline(
    name: str, space: Space, data: Any, budget_cpu: float, seed: int, epochs: int
) -> dict[str, Any]:
    """Random search or REA with real stand-alone training until ``budget_cpu`` is spent."""
    options = {"population_size": 5, "sample_size": 3} if name == "rea" else {}
    strategy = get_strategy(name, space, seed=seed, **options)
    spent, evaluated = 0.0, []
    while spent < budget_cpu:
        [candidate] = strategy.ask(1)
        row = train_standalone(space, candidate.arch, data, epochs)
        spent += row["cpu_seconds"]
        strategy.tell(candidate.candidate_id, {"val_accuracy": row["val_accuracy"]})
        evaluated.append(row)
    best = max(evaluated, key=lambda r: r["val_accuracy"])  # selected on validation only
    return {"evaluations": len(evaluated), "cpu_seconds": round(spent, 2), "best": best}


def run_search(args: argparse.Namespace) -> None:
    table = json.loads((RESULTS / "oneshot_standalone.json").read_text())
    rows = [r for r in table["rows"] if r["status"] == "ok"]
    tests = [r["test_accuracy"] for r in rows]
    epochs = table["recipe"]["epochs"]
    space, data = get_space(SPACE), get_dataset(DATASET)
    config = OneShotConfig(epochs=args.oneshot_epochs)
    out: dict[str, Any] = {"runs": [], "baselines": [], "kendall": {}}
    for seed in args.seeds:
        cpu_used = []
        for method in METHODS:
            wall, cpu = time.perf_counter(), time.process_time()
            found = search(space, data, method, config=config, seed=seed, device="cpu")
            cpu_s = time.process_time() - cpu
            cpu_used.append(cpu_s)
            alone = train_standalone(space, found.arch, data, epochs)
            labels = list(found.arch.json_values().values())
            run = {
                "method": method,
                "seed": seed,
                "arch": found.arch.json_values(),
                "inherited_val_accuracy": found.val_accuracy,
                "inherited_test_accuracy": found.test_accuracy,
                "standalone_val_accuracy": alone["val_accuracy"],
                "standalone_test_accuracy": alone["test_accuracy"],
                "test_percentile_in_table": _percentile(alone["test_accuracy"], tests),
                "parameter_free_edges": sum(v in PARAMETER_FREE for v in labels),
                "cpu_seconds": round(cpu_s, 2),
                "wall_seconds": round(time.perf_counter() - wall, 2),
                "final_probs": found.trajectory[-1].get("probs"),
                "train_loss": [round(e["train_loss"], 4) for e in found.trajectory],
            }
            out["runs"].append(run)
            print(json.dumps({k: run[k] for k in list(run)[:10]}), flush=True)
            if seed == args.seeds[0]:
                score = Scorer(found.supernet, data, config, seed)
                inherited = [score(space.validate(r["arch"]), "val") for r in rows]
                truth = [r["val_accuracy"] for r in rows]
                out["kendall"][method] = {
                    "kendall_tau": round(float(kendalltau(inherited, truth)[0]), 4),
                    "spearman": round(float(spearmanr(inherited, truth)[0]), 4),
                    "archs": len(rows),
                    "supernet_seed": seed,
                }
                print(method, out["kendall"][method], flush=True)
            _write("oneshot.json", _summary(out, args, table))
        budget = float(np.mean(cpu_used))
        for name in ("random", "rea"):
            base = _baseline(name, space, data, budget, seed, epochs)
            base.update(strategy=name, seed=seed, cpu_budget=round(budget, 2))
            base["test_percentile_in_table"] = _percentile(base["best"]["test_accuracy"], tests)
            out["baselines"].append(base)
            print(name, seed, base["evaluations"], base["best"]["test_accuracy"], flush=True)
            _write("oneshot.json", _summary(out, args, table))


def _summary(
    out: dict[str, Any], args: argparse.Namespace, table: dict[str, Any]
) -> dict[str, Any]:
    per: dict[str, dict[str, Any]] = {}
    for r in out["runs"]:
        per.setdefault(r["method"], []).append(r)  # type: ignore[attr-defined]
    for b in out["baselines"]:
        per.setdefault(b["strategy"], []).append(  # type: ignore[attr-defined]
            {"standalone_test_accuracy": b["best"]["test_accuracy"],
             "test_percentile_in_table": b["test_percentile_in_table"]}
        )  # fmt: skip
    means = {
        name: {
            "seeds": len(rs),
            "standalone_test_accuracy_mean": round(float(np.mean([r["standalone_test_accuracy"] for r in rs])), 2),
            "standalone_test_accuracy_std": round(float(np.std([r["standalone_test_accuracy"] for r in rs])), 2),
            "test_percentile_mean": round(float(np.mean([r["test_percentile_in_table"] for r in rs])), 1),
        }
        for name, rs in per.items()  # type: ignore[union-attr]
    }  # fmt: skip
    return {
        "what": "one-shot search (DARTS 1st order, beta-DARTS, SPOS) vs stand-alone training",
        "command": "python benchmarks/oneshot.py search --seeds "
        + " ".join(map(str, args.seeds))
        + f" --oneshot-epochs {args.oneshot_epochs}",
        "space": SPACE,
        "dataset": DATASET,
        "table": {
            "file": "benchmarks/results/oneshot_standalone.json",
            "archs": table["archs"],
            "recipe": table["recipe"],
        },
        "oneshot_config": OneShotConfig(epochs=args.oneshot_epochs).to_dict(),
        "protocol": "one-shot methods select on validation (inherited accuracy); the derived "
        "arch is then trained stand-alone with the table's recipe. Random search and REA "
        "(population 5, sample 3) train candidates stand-alone until the mean CPU seconds of "
        "that seed's three one-shot searches are spent, and pick their best on validation. "
        "Percentiles are of stand-alone test accuracy among the table's archs (a uniform "
        "sample of the space). Kendall tau: inherited validation accuracy of the seed-0 "
        "supernet (BN re-estimated per arch) vs stand-alone validation accuracy, all table "
        "archs. One CPU thread; the machine was shared with other jobs.",
        "summary": means,
        "kendall": out["kendall"],
        "runs": out["runs"],
        "baselines": out["baselines"],
    }


def main() -> None:
    torch.set_num_threads(1)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="phase", required=True)
    p = sub.add_parser("standalone")
    p.add_argument("--archs", type=int, default=200)
    p.add_argument("--epochs", type=int, default=4)
    q = sub.add_parser("search")
    q.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    q.add_argument("--oneshot-epochs", type=int, default=10)
    args = parser.parse_args()
    standalone(args) if args.phase == "standalone" else run_search(args)


if __name__ == "__main__":
    main()

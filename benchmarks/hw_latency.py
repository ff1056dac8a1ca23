"""A latency predictor fitted from 10 measured archs of a new device, on HELP's protocol.

1. NB-201 (``help-nb201``) and FBNet (``help-fbnet``), HELP's protocol (its ``loader.py`` and
   README): the meta-train pool is the first 900 archs (FBNet: 4,000), the query set the next
   1,000; on each device the fastest and slowest 10% of each are dropped (HELP's outlier
   removal), so the 10 fit samples are drawn from 720 (3,200) archs and the predictor ranks the
   same 800 query archs. Source devices are HELP's 9 meta-train devices (their pool rows only);
   the test devices are HELP's meta-test ones. ``nas.hw.LatencyPredictor`` with a
   ``nas.hw.device_prior`` from the sources: its three knobs (source ridge, noise, spread)
   are chosen on validation only, HELP's 4 meta-valid devices plus each meta-train device left
   out of its own prior (seeds 100-119); meta-test is scored once with seeds 0-19 and never
   chooses anything. Baselines from the same run: FLOPs (NB-201), the same predictor without
   a prior (plain ridge, its strength also chosen on validation), HELP's published figures.
   HELP measures 10 reference archs for its hardware embedding *and* 10 random archs to
   fine-tune on; here the 10 random archs are the only measurements of the target.
2. HAT SubTransformers (``hat-latency``: 8 task x hardware settings, 2,000 archs each, a
   different sample per setting): each setting in turn is the target, the other 7 its sources;
   10 random archs fit, the other 1,990 are ranked. The knobs are chosen per target by the
   same protocol among its 7 sources only (each left out of a prior of the other 6). IR graph
   features of the compiled ``hat_subtransformer`` arch; baselines FLOPs and params.

Usage: python benchmarks/hw_latency.py [--draws 20] [--save]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import kendalltau, spearmanr

from nas.hw import DevicePrior, device_prior, few_shot_correlation, graph_features, latency_table

META_TRAIN = [
    "1080ti_1", "1080ti_32", "1080ti_256", "silver_4114", "silver_4210r", "samsung_a50",
    "pixel3", "essential_ph_1", "samsung_s7",
]  # fmt: skip
META_VALID = ["titanx_1", "titanx_32", "titanx_256", "gold_6240"]
META_TEST = ["titan_rtx_256", "gold_6226", "fpga", "pixel2", "raspi4", "eyeriss"]
HELP_NB201 = {  # HELP README, Table 3 (10 samples from the target device)
    "titan_rtx_256": 0.987, "gold_6226": 0.989, "pixel2": 0.802, "raspi4": 0.890,
    "eyeriss": 0.940, "fpga": 0.985,
}  # fmt: skip
HELP_NB201_MEAN, HELP_NB201_FLOPS = 0.932, 0.787  # the same table's means: HELP, FLOPs
FBNET_TRAIN = [d.replace("_256", "_64") for d in META_TRAIN]  # HELP's FBNet split: batch 64
FBNET_VALID = [d.replace("_256", "_64") for d in META_VALID]
FBNET_TEST = ["fpga", "raspi4", "eyeriss"]
HELP_FBNET = {"raspi4": 0.887, "eyeriss": 0.943, "fpga": 0.892}  # HELP README, Table 2
HELP_FBNET_MEAN = 0.910  # as the table prints it (its three devices average 0.907)
FBNET_OPS = ["k3_e1", "k3_e1_g2", "k3_e3", "k3_e6", "k5_e1", "k5_e1_g2", "k5_e3", "k5_e6", "skip"]

SAMPLES = 10
VALID_SEEDS = range(100, 120)
SOURCE_ALPHAS = (1.0, 10.0)
ALPHAS = (0.01, 0.03, 0.1, 0.3)
SPREADS = (0.0, 0.1, 1.0, 10.0)
RIDGE_ALPHAS = (0.3, 1.0, 3.0, 10.0, 30.0)  # the no-prior baseline's grid
Knobs = tuple[float, float, float]  # source ridge, noise (alpha), spread


def help_pools(latency: np.ndarray, train: int, query: int) -> tuple[np.ndarray, np.ndarray]:
    """HELP's pools on one device: rows ``[0, train)`` to draw from and ``[train,
    train + query)`` to rank, each without its fastest and slowest 10% on this device."""

    def trim(rows: np.ndarray) -> np.ndarray:
        order = rows[np.argsort(latency[rows], kind="stable")]
        return order[int(0.1 * len(rows)) : int(0.9 * len(rows))]

    return trim(np.arange(train)), trim(np.arange(train, train + query))


def nb201_features(rows: int) -> np.ndarray:
    """IR features of the first ``rows`` NB-201 archs (HELP's order is the official index)."""
    from nas.search_spaces.nb201 import parse_arch_str
    from nas.space import get_space

    space = get_space("nb201")
    strings = latency_table("help-nb201").table.column("arch_str").to_pylist()[:rows]
    return np.stack([graph_features(space.compile(parse_arch_str(s))) for s in strings])


def fbnet_features() -> np.ndarray:
    """FBNet is not one of our spaces, so no IR: the arch encoding (one-hot op per layer)."""
    ops = [s.split(",") for s in latency_table("help-fbnet").table.column("ops").to_pylist()]
    X = np.zeros((len(ops), 22 * len(FBNET_OPS)))
    for i, layers in enumerate(ops):
        for j, op in enumerate(layers):
            X[i, j * len(FBNET_OPS) + FBNET_OPS.index(op)] = 1.0
    return X


# features, latency, the rows to draw from, the rows to rank (None: every row not drawn)
Task = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]


def _score(
    task: Task, prior: DevicePrior | None, alpha: float, spread: float, seeds: Sequence[int]
) -> dict[str, float]:
    X, y, pool, query = task
    return few_shot_correlation(
        X, y, samples=SAMPLES, seeds=seeds, prior=prior, alpha=alpha, spread=spread,
        pool=pool, query=query,
    )  # fmt: skip


def _prior(tasks: dict[str, Task], devices: Sequence[str], source_alpha: float) -> DevicePrior:
    return device_prior([(tasks[d][0][tasks[d][2]], tasks[d][1][tasks[d][2]]) for d in devices],
                        alpha=source_alpha)  # fmt: skip


def choose(tasks: dict[str, Task], sources: list[str], valid: list[str]) -> dict[str, Any]:
    """The knobs with the best mean validation Spearman: each ``valid`` device with the prior
    from all ``sources``, and each source with the prior from the others."""
    scores: dict[Knobs, float] = {}
    for source_alpha in SOURCE_ALPHAS:
        priors = {d: _prior(tasks, [s for s in sources if s != d], source_alpha) for d in sources}
        full = _prior(tasks, sources, source_alpha)
        for alpha, spread in itertools.product(ALPHAS, SPREADS):
            rho = [_score(tasks[d], full, alpha, spread, VALID_SEEDS)["spearman"] for d in valid]
            rho += [_score(tasks[d], priors[d], alpha, spread, VALID_SEEDS)["spearman"]
                    for d in sources]  # fmt: skip
            scores[(source_alpha, alpha, spread)] = float(np.mean(rho))
    plain = {
        a: float(np.mean([_score(tasks[d], None, a, 0.0, VALID_SEEDS)["spearman"]
                          for d in valid + sources]))
        for a in RIDGE_ALPHAS
    }  # fmt: skip
    best = max(scores, key=lambda k: scores[k])
    return {
        "knobs": best,
        "valid_spearman": round(scores[best], 4),
        "ridge_alpha": max(plain, key=lambda a: plain[a]),
        "grid": {"source_alpha": SOURCE_ALPHAS, "alpha": ALPHAS, "spread": SPREADS,
                 "ridge_alpha": RIDGE_ALPHAS},
    }  # fmt: skip


def _mean(rows: dict[str, dict[str, float]], key: str) -> float:
    return round(float(np.mean([r[key] for r in rows.values()])), 3)


def help_protocol(
    name: str, X: np.ndarray, train: int, split: tuple[list[str], list[str], list[str]],
    paper: dict[str, float], paper_mean: float, flops: np.ndarray | None, draws: int,
) -> dict[str, Any]:  # fmt: skip
    """Knobs chosen on validation, then per meta-test device: mean Spearman/Kendall of
    ``draws`` 10-sample fits on the same 800 query archs."""
    table = latency_table(name)
    sources, valid, test = split
    tasks: dict[str, Task] = {}
    for d in sources + valid + test:
        y = table.column(d)[: len(X)]
        tasks[d] = (X, y, *help_pools(y, train, len(X) - train))
    chosen = choose(tasks, sources, valid)
    source_alpha, alpha, spread = chosen["knobs"]
    prior = _prior(tasks, sources, source_alpha)
    per_device: dict[str, dict[str, float]] = {}
    for d in test:
        got = _score(tasks[d], prior, alpha, spread, range(draws))
        plain = _score(tasks[d], None, chosen["ridge_alpha"], 0.0, range(draws))
        row = {
            "spearman": round(got["spearman"], 3),
            "kendall": round(got["kendall"], 3),
            "spearman_no_prior": round(plain["spearman"], 3),
            "help_paper_spearman": paper[d],
        }
        if flops is not None:
            _, y, _, query = tasks[d]
            assert query is not None  # help_pools always gives one
            row["spearman_flops"] = round(float(spearmanr(flops[query], y[query])[0]), 3)
            row["kendall_flops"] = round(float(kendalltau(flops[query], y[query])[0]), 3)
        per_device[d] = row
    out: dict[str, Any] = {
        "latency_table": name,
        "pool_archs": train,
        "query_archs": len(X) - train,
        "outliers_dropped_per_device": "fastest and slowest 10% of pool and of query",
        "features": X.shape[1],
        "samples_per_device": SAMPLES,
        "draws": draws,
        "meta_train_devices": sources,
        "meta_valid_devices": valid,
        "chosen_on_validation": {
            "source_alpha": source_alpha,
            "alpha": alpha,
            "spread": spread,
            **chosen,
        },
        "per_device": per_device,
        "mean_spearman": _mean(per_device, "spearman"),
        "mean_kendall": _mean(per_device, "kendall"),
        "mean_spearman_no_prior": _mean(per_device, "spearman_no_prior"),
        "help_paper_mean_spearman": paper_mean,
    }
    del out["chosen_on_validation"]["knobs"]
    if flops is not None:
        out["mean_spearman_flops"] = _mean(per_device, "spearman_flops")
        out["mean_kendall_flops"] = _mean(per_device, "kendall_flops")
    return out


def hat_protocol(draws: int) -> dict[str, Any]:
    """Each HAT setting as the target, the other 7 as sources (knobs chosen among them)."""
    from nas.hw._tables import HAT_KEY_COLUMNS
    from nas.search_spaces.transformer import hat_arch, hat_subtransformer

    table = latency_table("hat-latency")
    space = hat_subtransformer()
    rows = table.table.select(list(HAT_KEY_COLUMNS)).to_pylist()
    start = time.perf_counter()
    graphs = [space.compile(hat_arch(space, r)) for r in rows]
    X = np.stack([graph_features(g) for g in graphs])
    flops = np.array([g.flops for g in graphs], dtype=float)
    params = np.array([g.params for g in graphs], dtype=float)
    seconds = time.perf_counter() - start
    settings = list(table.devices)
    tasks: dict[str, Task] = {}
    for d in settings:
        r = table.rows(d)
        tasks[d] = (X[r], table.column(d), np.arange(len(r)), None)
    per_setting: dict[str, dict[str, Any]] = {}
    for target in settings:
        sources = [d for d in settings if d != target]
        chosen = choose(tasks, sources, [])
        source_alpha, alpha, spread = chosen["knobs"]
        prior = _prior(tasks, sources, source_alpha)
        got = _score(tasks[target], prior, alpha, spread, range(draws))
        plain = _score(tasks[target], None, chosen["ridge_alpha"], 0.0, range(draws))
        r = table.rows(target)
        y = table.column(target)
        per_setting[target] = {
            "spearman": round(got["spearman"], 3),
            "kendall": round(got["kendall"], 3),
            "spearman_no_prior": round(plain["spearman"], 3),
            "spearman_flops": round(float(spearmanr(flops[r], y)[0]), 3),
            "kendall_flops": round(float(kendalltau(flops[r], y)[0]), 3),
            "spearman_params": round(float(spearmanr(params[r], y)[0]), 3),
            "kendall_params": round(float(kendalltau(params[r], y)[0]), 3),
            "chosen_on_sources": {"source_alpha": source_alpha, "alpha": alpha,
                                  "spread": spread, "valid_spearman": chosen["valid_spearman"]},
        }  # fmt: skip
    out = {
        "latency_table": "hat-latency",
        "settings": settings,
        "archs_per_setting": 2000,
        "features": X.shape[1],
        "samples_per_setting": SAMPLES,
        "draws": draws,
        "protocol": "target = each setting; sources = the other 7; 10 random archs of the "
        "target fit, the other 1,990 ranked; knobs chosen by leaving each source out of a "
        "prior of the other 6 (seeds 100-119); FLOPs/params correlations over all 2,000 rows",
        "per_setting": per_setting,
        "feature_seconds": round(seconds, 1),
    }
    for key in ("spearman", "kendall", "spearman_no_prior", "spearman_flops", "kendall_flops",
                "spearman_params", "kendall_params"):  # fmt: skip
        out[f"mean_{key}"] = _mean(per_setting, key)
    return out


def _line(name: str, got: float, base: float, label: str) -> str:
    return f"{name:34s} {got:.3f}  ({label} {base:.3f}, ratio {got / base:.3f})"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=20, help="10-sample draws per device")
    parser.add_argument("--save", action="store_true", help="write the results JSON")
    args = parser.parse_args(argv)
    if args.draws < 1:
        parser.error(f"--draws must be >= 1 (got {args.draws})")
    start = time.perf_counter()
    X = nb201_features(1900)
    nb201 = help_protocol(
        "help-nb201", X, 900, (META_TRAIN, META_VALID, META_TEST), HELP_NB201, HELP_NB201_MEAN,
        flops=X[:, -2], draws=args.draws,
    )  # fmt: skip
    nb201["help_paper_mean_spearman_flops"] = HELP_NB201_FLOPS
    fbnet = help_protocol(
        "help-fbnet", fbnet_features(), 4000, (FBNET_TRAIN, FBNET_VALID, FBNET_TEST), HELP_FBNET,
        HELP_FBNET_MEAN, flops=None, draws=args.draws,
    )  # fmt: skip
    hat = hat_protocol(args.draws)
    lines = [
        _line("NB-201 mean Spearman", nb201["mean_spearman"], nb201["help_paper_mean_spearman"],
              "HELP"),
        _line("NB-201 FLOPs mean Spearman", nb201["mean_spearman_flops"], HELP_NB201_FLOPS,
              "HELP's FLOPs"),
        _line("NB-201 without prior", nb201["mean_spearman_no_prior"], nb201["mean_spearman"],
              "with prior"),
        _line("FBNet mean Spearman", fbnet["mean_spearman"], fbnet["help_paper_mean_spearman"],
              "HELP"),
        _line("FBNet without prior", fbnet["mean_spearman_no_prior"], fbnet["mean_spearman"],
              "with prior"),
        _line("HAT mean Spearman", hat["mean_spearman"], hat["mean_spearman_flops"], "FLOPs"),
        _line("HAT mean Kendall", hat["mean_kendall"], hat["mean_kendall_flops"], "FLOPs"),
        _line("HAT mean Spearman", hat["mean_spearman"], hat["mean_spearman_params"], "params"),
    ]  # fmt: skip
    result = {
        "figure": "10-sample latency predictor on new devices: NB-201 and FBNet on HELP's "
        "protocol, HAT SubTransformers with the other settings as sources",
        "command": "python " + " ".join(["benchmarks/hw_latency.py", *sys.argv[1:]]),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_avg_1m": round(os.getloadavg()[0], 2),
            "threads": os.environ.get("OMP_NUM_THREADS", "unset"),
        },
        "wall_seconds": round(time.perf_counter() - start, 1),
        "summary": lines,
        "nb201": nb201,
        "fbnet": fbnet,
        "hat": hat,
    }
    print(json.dumps(result, indent=1))
    print("\n".join(lines))
    if args.save:
        path = Path(__file__).parent / "results" / "hw_latency_predictor.json"
        path.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()

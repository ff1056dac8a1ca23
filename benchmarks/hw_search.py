"""Hardware-aware NAS on NB-201: accuracy x latency Pareto search, and a 10-sample latency predictor.

1. Search: ``nb201-cifar10`` with the ``help-nb201`` latency of one device (default Pixel 3,
   HW-NAS-Bench's measurement), objectives ``val_accuracy:max`` and ``latency_<device>:min``;
   random vs REA, 100 queries, 20 seeds; each front's hypervolume ratio to the table's true
   front (``nas.hw.compare_pareto``; reference point: the true front's nadir).
2. Predictor, HELP's protocol (its README's device split): a prior from the 9 meta-train devices'
   full tables, the ridge strength chosen on the 4 meta-valid devices, then 10 random measured
   archs per meta-test device fit ``nas.hw.LatencyPredictor`` and the rest are ranked
   (Spearman, Kendall; mean over 10 draws). HELP reports Spearman 0.932 mean over these 6
   devices (FLOPs 0.787); FLOPs and the predictor without a prior are printed beside.
3. The same protocol on HELP's FBNet table (its split: meta-test fpga, raspi4, eyeriss; HELP
   0.910 mean); FBNet is not one of our spaces, so the features are the arch encoding (one-hot
   op per layer) instead of IR features.

Usage: python benchmarks/hw_search.py [--seeds 20] [--queries 100] [--archs N] [--save]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import kendalltau, spearmanr

from nas.hw import compare_pareto, latency_table
from nas.hw._predictor import device_prior, few_shot_correlation, graph_features
from nas.search_spaces.nb201 import parse_arch_str
from nas.space import get_space

META_TRAIN = [
    "1080ti_1", "1080ti_32", "1080ti_256", "silver_4114", "silver_4210r", "samsung_a50",
    "pixel3", "essential_ph_1", "samsung_s7",
]  # fmt: skip
META_VALID = ["titanx_1", "titanx_32", "titanx_256", "gold_6240"]
META_TEST = ["titan_rtx_256", "gold_6226", "fpga", "pixel2", "raspi4", "eyeriss"]
HELP_SPEARMAN = {  # HELP README, Table 3 (10 samples from the target device)
    "titan_rtx_256": 0.987, "gold_6226": 0.989, "pixel2": 0.802, "raspi4": 0.890,
    "eyeriss": 0.940, "fpga": 0.985,
}  # fmt: skip
ALPHAS = (1.0, 3.0, 10.0, 30.0)


FBNET_TRAIN = [d.replace("_256", "_64") for d in META_TRAIN]  # HELP's FBNet split: batch 64
FBNET_VALID = [d.replace("_256", "_64") for d in META_VALID]
FBNET_TEST = ["fpga", "raspi4", "eyeriss"]
FBNET_HELP = {"raspi4": 0.887, "eyeriss": 0.943, "fpga": 0.892}  # HELP README, Table 2
FBNET_OPS = ["k3_e1", "k3_e1_g2", "k3_e3", "k3_e6", "k5_e1", "k5_e1_g2", "k5_e3", "k5_e6", "skip"]


def nb201_features(archs: int | None) -> tuple[np.ndarray, np.ndarray, float]:
    """IR features of the NB-201 rows (all, or ``archs`` of them drawn with seed 0)."""
    table = latency_table("help-nb201")
    space = get_space("nb201")
    rows = np.arange(len(table))
    if archs is not None and archs < len(rows):
        rows = np.sort(np.random.default_rng(0).choice(rows, archs, replace=False))
    strings = table.table.column("arch_str").to_pylist()
    start = time.perf_counter()
    X = np.stack([graph_features(space.compile(parse_arch_str(strings[i]))) for i in rows])
    return X, rows, time.perf_counter() - start


def fbnet_features() -> np.ndarray:
    """FBNet is not one of our spaces, so no IR: the arch encoding (one-hot op per layer)."""
    ops = [s.split(",") for s in latency_table("help-fbnet").table.column("ops").to_pylist()]
    X = np.zeros((len(ops), 22 * len(FBNET_OPS)))
    for i, layers in enumerate(ops):
        for j, op in enumerate(layers):
            X[i, j * len(FBNET_OPS) + FBNET_OPS.index(op)] = 1.0
    return X


def help_protocol(
    name: str, X: np.ndarray, rows: np.ndarray, split: tuple[list[str], list[str], list[str]],
    paper: dict[str, float], flops: np.ndarray | None,
) -> dict[str, Any]:  # fmt: skip
    """Prior from the meta-train devices, ridge strength chosen on meta-valid, scored on
    meta-test: Spearman/Kendall of 10-sample fits (mean of 10 draws) per device."""
    table = latency_table(name)
    train, valid_devices, test_devices = split
    prior = device_prior(X, [table.column(d)[rows] for d in train])

    def scores(devices: list[str], alpha: float, with_prior: bool) -> dict[str, dict]:
        return {
            d: few_shot_correlation(
                X, table.column(d)[rows], prior=prior if with_prior else None, alpha=alpha
            )
            for d in devices
        }

    def choose(with_prior: bool) -> tuple[float, dict[float, float]]:
        by_alpha = {
            a: float(
                np.mean([r["spearman"] for r in scores(valid_devices, a, with_prior).values()])
            )
            for a in ALPHAS
        }
        return max(by_alpha, key=lambda a: by_alpha[a]), by_alpha

    alpha, valid = choose(True)
    plain_alpha, _ = choose(False)
    test = scores(test_devices, alpha, True)
    plain = scores(test_devices, plain_alpha, False)
    per_device: dict[str, dict[str, float]] = {}
    for d in test_devices:
        y = table.column(d)[rows]
        per_device[d] = {
            "spearman": round(test[d]["spearman"], 3),
            "kendall": round(test[d]["kendall"], 3),
            "spearman_no_prior": round(plain[d]["spearman"], 3),
            "help_paper_spearman": paper[d],
        }
        if flops is not None:
            per_device[d]["spearman_flops"] = round(float(spearmanr(flops, y)[0]), 3)
            per_device[d]["kendall_flops"] = round(float(kendalltau(flops, y)[0]), 3)

    def mean(key: str) -> float:
        return round(float(np.mean([v[key] for v in per_device.values()])), 3)

    out = {
        "latency_table": name,
        "archs": len(rows),
        "features": X.shape[1],
        "samples_per_device": 10,
        "draws": 10,
        "meta_train_devices": train,
        "meta_valid_devices": valid_devices,
        "alpha_grid": list(ALPHAS),
        "alpha_chosen_on_valid": alpha,
        "alpha_chosen_on_valid_no_prior": plain_alpha,
        "valid_spearman_by_alpha": {str(a): round(v, 3) for a, v in valid.items()},
        "per_device": per_device,
        "mean_spearman": mean("spearman"),
        "mean_kendall": mean("kendall"),
        "mean_spearman_no_prior": mean("spearman_no_prior"),
        "help_paper_mean_spearman": round(float(np.mean(list(paper.values()))), 3),
    }
    if flops is not None:
        out["mean_spearman_flops"] = mean("spearman_flops")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="pixel3")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--archs", type=int, help="predictor population (default all 15,625)")
    parser.add_argument("--save", action="store_true", help="write the results JSON")
    args = parser.parse_args()
    search = compare_pareto(
        "nb201-cifar10",
        ["random", "rea"],
        latency_table="help-nb201",
        device=args.device,
        queries=args.queries,
        seeds=args.seeds,
        progress=False,
    ).to_dict()
    result = {
        "figure": "NB-201 CIFAR-10 accuracy x latency search and a 10-sample latency predictor",
        "command": f"python benchmarks/hw_search.py --device {args.device} --seeds {args.seeds} "
        f"--queries {args.queries}" + (f" --archs {args.archs}" if args.archs else ""),
        "machine": f"{platform.machine()}, Python {platform.python_version()}, shared 2-core CPU",
        "search": search,
    }
    X, rows, seconds = nb201_features(args.archs)
    result["predictor"] = {
        **help_protocol("help-nb201", X, rows, (META_TRAIN, META_VALID, META_TEST),
                        HELP_SPEARMAN, flops=X[:, -2]),
        "help_paper_flops_mean_spearman": 0.787,
        "feature_seconds": round(seconds, 1),
    }  # fmt: skip
    fb = fbnet_features()
    result["predictor_fbnet"] = help_protocol(
        "help-fbnet", fb, np.arange(len(fb)), (FBNET_TRAIN, FBNET_VALID, FBNET_TEST),
        FBNET_HELP, flops=None,
    )  # fmt: skip
    print(json.dumps(result, indent=1))
    if args.save:
        path = Path(__file__).parent / "results" / "hw_search.json"
        path.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()

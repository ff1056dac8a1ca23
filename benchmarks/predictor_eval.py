"""Predictor figures: in-space quality, transfer to NB-201, ranking throughput, and the
choice of the training-free ranking's scores.

Usage (numbers in the report came from these commands):
    python benchmarks/predictor_eval.py inspace --split gates --train-sizes 78 --seeds 5 \
        --predictors gennape,single_head,gbr,rf,params,flops,zc \
        --out benchmarks/results/predictor_protocol.json
    python benchmarks/predictor_eval.py inspace --split gates,tnasp --train-sizes 78,156 \
        --config '{"proxy_inputs": ["synflow"]}' --out 'benchmarks/results/predictor_{split}.json'
(several splits in one process share the compiled graphs and their proxy scores; ``{split}``
in ``--out`` names one file per split; the tnasp split runs the largest size only).
    python benchmarks/predictor_eval.py transfer --finetune-size 50 [--pretrain-graphs 4000] \
        [--config '{"proxy_inputs": ["synflow_bn"]}'] [--predictors zc --zc-archs 50]
    nas predictor fit --table nb201-cifar10 --train-size 100 --epochs 10 --out DIR
    python benchmarks/predictor_eval.py rank --candidates 100000 --model DIR \
        --out benchmarks/results/predictor_rank.json
    python benchmarks/predictor_eval.py free-select \
        --out benchmarks/results/predictor_training_free_selection.json
Prints one JSON object per figure; ``--plot`` writes a predicted-vs-true PNG.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from dataclasses import asdict

import numpy as np
import torch

from nas.predictors._evaluate import UNLABELED
from nas.predictors._model import GROUP_NORMS, PredictorConfig


def inspace(args: argparse.Namespace) -> dict:
    from nas.predictors import evaluate_table, summarize
    from nas.predictors._protocol import Protocol

    cfg = _config(args, epochs=args.epochs)
    sizes = [int(v) for v in args.train_sizes.split(",")]
    preds = args.predictors.split(",")
    seeds = tuple(range(args.seed, args.seed + args.seeds))
    zc = args.zc_archs if "zc" in preds else 0
    test_size = args.test_size if args.split == "random" else None
    protocol = Protocol(args.table, args.target, args.split, tuple(sizes), seeds, test_size, zc)
    print(f"protocol: {protocol.line()}", flush=True)
    t = time.perf_counter()
    starts: list[tuple[str, float]] = []  # the harness calls progress before each fit

    def tick(msg: str) -> None:
        starts.append((msg.split()[0], time.perf_counter()))

    rows = evaluate_table(
        args.table,
        train_sizes=sizes,
        seeds=list(seeds),
        test_size=args.test_size,
        predictors=preds,
        config=cfg,
        zc_archs=zc,
        target=args.target,
        split=args.split,
        progress=tick,
        proxy_cache=None if args.proxy_cache == "none" else args.proxy_cache,
        unlabeled=args.unlabeled,
    )
    return {
        "figure": f"{args.table} in-space",
        "protocol": protocol.to_dict(),
        "config": asdict(cfg),
        "unlabeled": (
            "the split's unlabelled candidates (gates: the pool's other archs), one per "
            "graph_hash class, passed as fit(unlabeled=...) with their proxy scores"
            if args.unlabeled == "pool"
            else "none"
        ),
        "summary": summarize(rows),
        "seconds": round(time.perf_counter() - t, 1),
        "seconds_per_fit": _fit_seconds(starts, time.perf_counter()),
    }


def _fit_seconds(starts: list[tuple[str, float]], end: float) -> dict[str, float]:
    """Mean seconds from one fit's start to the next (fit + test prediction), per predictor."""
    spans: dict[str, list[float]] = {}
    for (name, t0), (_, t1) in zip(starts, [*starts[1:], ("", end)]):
        spans.setdefault(name, []).append(t1 - t0)
    return {k: round(float(np.mean(v)), 1) for k, v in spans.items()}


def _config(args: argparse.Namespace, **flags: object) -> PredictorConfig:
    """The flags' PredictorConfig fields, then ``--config`` JSON on top (one line if bad)."""
    from nas.predictors import PredictorError
    from nas.predictors._evaluate import config_from_dict

    try:
        given = json.loads(args.config)
        return config_from_dict({**flags, **given} if isinstance(given, dict) else given)
    except json.JSONDecodeError as exc:
        line = f"--config: not valid JSON ({exc.msg} at column {exc.colno})"
    except PredictorError as exc:
        line = str(exc)
    print(f"predictor_eval.py: error: {line}", file=sys.stderr)
    raise SystemExit(2)


def transfer(args: argparse.Namespace) -> dict:
    from nas.predictors import evaluate_transfer, summarize
    from nas.predictors._protocol import target_label

    cfg = _config(args, epochs=args.epochs, group_norm=args.group_norm)
    encoder = None
    pretrain_s = 0.0
    if args.pretrain_graphs:
        from nas.predictors import PretrainConfig, pretrain, sample_graphs

        t = time.perf_counter()
        spaces = args.pretrain_spaces.split(",")
        graphs = sample_graphs(spaces, args.pretrain_graphs, np.random.default_rng(0))
        encoder = pretrain(graphs, PretrainConfig(epochs=args.pretrain_epochs))
        pretrain_s = time.perf_counter() - t
    t = time.perf_counter()
    timings: dict[str, float] = {}
    seeds = list(range(args.seed, args.seed + args.seeds))
    sources = args.pretrain_on.split(",")
    rows = evaluate_transfer(
        sources,
        "nb201-cifar10",
        finetune_size=args.finetune_size,
        per_table=args.per_table,
        seeds=seeds,
        test_size=args.test_size,
        config=cfg,
        encoder=encoder,
        target_signal=args.target,
        proxy_cache=None if args.proxy_cache == "none" else args.proxy_cache,
        zc_archs=args.zc_archs if "zc" in args.predictors.split(",") else 0,
        timings=timings,
    )
    proxies = ", ".join(cfg.proxy_inputs)
    return {
        "figure": "transfer to nb201-cifar10",
        "target": f"{args.target} ({target_label('nb201-cifar10', args.target)})",
        "sources": sources,
        "seeds": seeds,
        "inputs": (
            f"each graph's IR, log FLOPs and params; proxy scores ({proxies}) of every source "
            "and NB-201 graph, computed on its own lowered network with a random-normal batch "
            "of its input shape and labels over its class count, each proxy as normal scores "
            "of its ranks within its table (NB-201: the fine-tuning and test archs together). "
            "Zero-shot sees no NB-201 label, but does run the NB-201 networks (label-free)."
            if cfg.proxy_inputs
            else "each graph's IR, log FLOPs and params (no proxies; nothing run on NB-201)"
        ),
        "pretrain": {
            "graphs": args.pretrain_graphs,
            "spaces": args.pretrain_spaces if args.pretrain_graphs else None,
            "epochs": args.pretrain_epochs if args.pretrain_graphs else None,
            "seconds": round(pretrain_s, 1),
        },
        "per_table": args.per_table,
        "config": asdict(cfg),
        "seconds": round(time.perf_counter() - t, 1),
        "seconds_by_stage": {k: round(v, 1) for k, v in timings.items()},
        "zc_archs": args.zc_archs if "zc" in args.predictors.split(",") else 0,
        "summary": summarize(rows, keys=("mode", "archs")),
    }


def rank(args: argparse.Namespace) -> dict:
    from nas.predictors import GennapePredictor, rank_candidates
    from nas.space import get_space

    model = GennapePredictor.load(args.model) if args.model else None
    r = rank_candidates(
        get_space("nb201"), args.candidates, 10, model=model, rng=np.random.default_rng(0)
    )
    per_graph_ms = {
        stage: round(1e3 * r.seconds[stage] / max(r.unique, 1), 4)
        for stage in ("compile", "featurize", "forward")
    }
    return {
        "figure": "rank throughput",
        "space": "nb201",
        "candidates": r.candidates,
        "unique": r.unique,
        "graphs_per_s": round(r.graphs_per_s, 1),
        "unique_graphs_per_s": round(r.unique / max(r.seconds["total"], 1e-9), 1),
        "seconds": {k: round(v, 3) for k, v in r.seconds.items()},
        "ms_per_unique_graph": per_graph_ms,
        "scorer": r.scorer,
        "first_pass": r.first_pass,
        "model": args.model,
        "model_config": asdict(model.config) if model is not None else None,
    }


def free_select(args: argparse.Namespace) -> dict:
    """Every subset of the zero-cost proxies and FLOPs, rank-aggregated, scored on the GATES
    pool half only (the archs the gates split trains from): how ``TRAINING_FREE`` was chosen
    without looking at the test half the training-free figure is reported on."""
    from itertools import combinations
    from pathlib import Path

    from nas.predictors import load_labeled
    from nas.predictors._evaluate import TRAINING_FREE, _graphs_of, rank_aggregate
    from nas.predictors._protocol import protocol_split, score_all_and_unique, table_meta

    t = load_labeled(args.table, signal=args.target)
    meta = table_meta(t)
    test = protocol_split("gates", meta, 1, 0)[1]
    pool = np.setdiff1d(np.arange(len(t)), test)
    graphs = _graphs_of(t, meta.graph_hash)
    if args.proxy_cache != "none":
        graphs.use_disk_cache(Path(args.proxy_cache))
    t0 = time.perf_counter()
    scores = graphs.zero_cost(pool) | {"flops": graphs.size(pool)["flops"]}
    seconds = time.perf_counter() - t0
    hashes = [meta.graph_hash[int(i)] for i in pool]
    rows = []
    for r in range(1, len(scores) + 1):
        for combo in combinations(scores, r):
            agg = rank_aggregate({k: scores[k] for k in combo})
            s = score_all_and_unique(t.targets[pool], agg, hashes, with_mae=False)
            rows.append({"scores": list(combo), "kendall": s["all"]["kendall"],
                         "kendall_unique": s["unique"]["kendall"],
                         "spearman": s["all"]["spearman"]})  # fmt: skip
    rows.sort(key=lambda row: -row["kendall"])
    return {
        "figure": "training-free score selection (GATES pool half only)",
        "protocol": f"{args.table} | target {args.target} | the {len(pool)} archs with "
        "arch_index < 7813 (the gates split's pool; its test half left out) | rank aggregate "
        "(sum of log normalized ranks) of each subset | Kendall tau on all and unique archs",
        "training_free": list(TRAINING_FREE),
        "training_free_is_best": set(rows[0]["scores"]) == set(TRAINING_FREE),
        "subsets": rows,
        "proxy_seconds": round(seconds, 1),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("figure", choices=["inspace", "transfer", "rank", "free-select"])
    p.add_argument("--table", default="nb201-cifar10")
    p.add_argument("--train-sizes", default="78,156", help="inspace: label counts N")
    p.add_argument(
        "--split", default="gates", help="inspace: gates, tnasp or random (comma-separated)"
    )
    p.add_argument(
        "--target", default="test_accuracy", help="test_accuracy (200 ep) or val_accuracy (12 ep)"
    )
    p.add_argument("--seed", type=int, default=0, help="first seed")
    p.add_argument(
        "--config",
        default="{}",
        help='PredictorConfig fields as JSON, e.g. {"proxy_inputs": ["synflow_bn"]} '
        "(over --epochs and --group-norm)",
    )
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--test-size", type=int, default=1000)
    p.add_argument("--epochs", type=int, default=120)
    p.add_argument(
        "--zc-archs", type=int, default=50, help="test archs scored by every zero-cost proxy"
    )
    p.add_argument("--predictors", default="gennape,single_head,gbr,rf,params,flops,zc")
    p.add_argument(
        "--unlabeled",
        default="none",
        choices=UNLABELED,
        help="inspace: 'pool' passes the split's unlabelled archs to fit(unlabeled=...) "
        "(clustering; pretraining with pretrain_epochs)",
    )
    p.add_argument("--pretrain-on", default="nb-macro,nb101")
    p.add_argument("--per-table", type=int, default=500)
    p.add_argument("--finetune-size", type=int, default=50)
    p.add_argument(
        "--pretrain-graphs", type=int, default=0, help="transfer: contrastive pretraining graphs"
    )
    p.add_argument("--pretrain-spaces", default="nb201,nb_macro,mobilenet,resnet")
    p.add_argument("--pretrain-epochs", type=int, default=20)
    p.add_argument(
        "--group-norm",
        default="zscore",
        choices=GROUP_NORMS,
        help="transfer: how each source table's targets are scaled",
    )
    p.add_argument("--candidates", type=int, default=100_000)
    p.add_argument("--model", default=None)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument(
        "--proxy-cache",
        default="~/.cache/nas/proxy-scores",
        help="directory keeping zero-cost proxy scores across runs ('none': off)",
    )
    p.add_argument("--out", default=None, help="also write the JSON here")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    splits = args.split.split(",") if args.figure == "inspace" else [args.split]
    if len(splits) > 1 and (not args.out or "{split}" not in args.out):
        p.error("several --split values need --out with {split} in it (one file per split)")
    sizes = args.train_sizes
    for split in splits:
        if split == "tnasp" and len(splits) > 1:  # the field reports TNASP at 156 (1 %)
            args.train_sizes = str(max(int(v) for v in sizes.split(",")))
        else:
            args.train_sizes = sizes
        args.split = split
        fig = {"inspace": inspace, "transfer": transfer, "rank": rank, "free-select": free_select}[
            args.figure
        ]
        result = fig(args)
        result["threads"] = args.threads
        result["command"] = shlex.join(["python", "benchmarks/predictor_eval.py", *sys.argv[1:]])
        result["machine"] = {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "load_avg_1m_at_end": round(os.getloadavg()[0], 2),
        }
        text = json.dumps(result, indent=1)
        if args.out:
            with open(args.out.replace("{split}", split), "w") as f:
                f.write(text + "\n")
        print(text, flush=True)


if __name__ == "__main__":
    main()

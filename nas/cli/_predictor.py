"""``nas predictor``: pretrain, fit, eval and rank with the GENNAPE-style predictor."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from dataclasses import asdict, replace
from typing import Any

from nas.cli._common import CliInputError, add_json_flag, emit, int_at_least

__all__ = ["register"]


@contextlib.contextmanager
def _progress(total: int | None, label: str) -> Iterator[Any]:
    """Yields ``advance(k)``; a rich bar on a TTY stderr, nothing otherwise."""
    if not sys.stderr.isatty():
        yield lambda k=1: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    ) as bar:
        task = bar.add_task(label, total=total)
        yield lambda k=1: bar.advance(task, k)


def _ints(text: str, flag: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise CliInputError(f"{flag}: expected comma-separated integers (got {text!r}).") from None
    if not values or min(values) < 1:
        raise CliInputError(f"{flag}: expected positive integers (got {text!r}).")
    return values


def _names(text: str) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


def _config(args: argparse.Namespace):
    """PredictorConfig from ``--config`` JSON (or @file.json), then the explicit flags on top."""
    from nas.cli._common import read_json_arg
    from nas.predictors import PredictorConfig, PredictorError
    from nas.predictors._evaluate import config_from_dict

    cfg = PredictorConfig()
    text = getattr(args, "config", None)
    if text:
        try:
            cfg = config_from_dict(read_json_arg(text, "--config"))
        except PredictorError as exc:
            raise CliInputError(str(exc)) from None
    for key in ("epochs", "hidden", "layers", "n_clusters"):
        value = getattr(args, key, None)
        if value is not None:
            cfg = replace(cfg, **{key: value})
    return cfg


# ---------------------------------------------------------------------------- pretrain
def _pretrain_one(spaces: list[str], graphs: int, cfg: Any, out: str | None, bar=None) -> dict:
    import numpy as np

    from nas.predictors import pretrain, sample_graphs

    rng = np.random.default_rng(cfg.seed)
    gs = sample_graphs(spaces, graphs, rng, progress=bar)
    enc = pretrain(gs, cfg)
    if out:
        enc.save(out)
    return {
        "seed": cfg.seed,
        "final_loss": enc.history[-1] if enc.history else None,
        "history": list(enc.history),
        "out": out,
    }


def _cmd_pretrain(args: argparse.Namespace) -> int:
    from nas.predictors import PretrainConfig

    spaces = _names(args.spaces)
    cfg = PretrainConfig(epochs=args.epochs, hidden=args.hidden, layers=args.layers, seed=args.seed)
    if not args.ray:
        with _progress(args.graphs, "sampling graphs") as bar:
            result = _pretrain_one(spaces, args.graphs, cfg, args.out, bar)
        emit(
            result,
            as_json=args.json,
            text=f"pretrained encoder -> {args.out} (final loss {result['final_loss']:.4f})",
        )
        return 0
    import os

    from ray import tune

    from nas.run import init_ray, tune_run

    # Trials run in their own working directories (and maybe on other nodes): give them an
    # absolute output path, on storage every node sees when Ray is a cluster.
    out_root = os.path.abspath(args.out)

    def trainable(config: dict) -> dict:  # a Ray Tune function trainable, one seed per trial
        c = replace(cfg, seed=int(config["seed"]))
        out = os.path.join(out_root, f"seed{c.seed}")
        r = _pretrain_one(spaces, args.graphs, c, out)
        return {"final_loss": r["final_loss"], "out": out}

    seeds = list(range(args.seed, args.seed + args.num_seeds))
    started = init_ray(args.address)
    try:  # the project's one Tune set-up: quiet console, Tune files under OUT/_tune
        grid = tune_run(
            tune.with_resources(trainable, {"cpu": 1}),
            os.path.join(out_root, "_tune"),
            param_space={"seed": tune.grid_search(seeds)},
            metric="final_loss",
            mode="min",
            reuse_actors=False,
        )
    finally:
        if started:
            import ray

            ray.shutdown()
    rows = [
        {"seed": (r.config or {}).get("seed"), **(r.metrics or {})}
        for r in (grid[i] for i in range(len(grid)))
    ]
    rows = [{k: r.get(k) for k in ("seed", "final_loss", "out")} for r in rows]
    best = min(rows, key=lambda r: r["final_loss"] if r["final_loss"] is not None else 1e9)
    emit(
        {"trials": rows, "best": best},
        as_json=args.json,
        text="\n".join(f"seed {r['seed']}: loss {r['final_loss']} -> {r['out']}" for r in rows),
    )
    return 0


# ---------------------------------------------------------------------------- fit
def _cmd_fit(args: argparse.Namespace) -> int:
    import numpy as np

    from nas.predictors import GennapePredictor, PretrainedEncoder, load_labeled

    table = load_labeled(args.table)
    rows = np.random.default_rng(args.seed).permutation(len(table))[: args.train_size]
    init = PretrainedEncoder.load(args.encoder).as_init() if args.encoder else None
    model = GennapePredictor(replace(_config(args), seed=args.seed), encoder=init)
    with _progress(len(rows), "compiling") as bar:
        graphs = []
        for i in rows:
            graphs.append(table.graph(int(i)))
            bar(1)
    model.fit(graphs, table.targets[rows])
    model.save(args.out)
    emit(
        {"out": args.out, "table": args.table, "train_size": len(rows)},
        as_json=args.json,
        text=f"fitted on {len(rows)} archs of {args.table} -> {args.out}",
    )
    return 0


# ---------------------------------------------------------------------------- eval
def _cmd_eval(args: argparse.Namespace) -> int:
    from nas.predictors import PretrainedEncoder, evaluate_table, evaluate_transfer, summarize
    from nas.predictors._evaluate import PREDICTORS

    cfg = _config(args)
    if args.proxy_inputs:
        cfg = replace(cfg, proxy_inputs=tuple(_names(args.proxy_inputs)))
    protocol = None
    if args.finetune_on and not args.pretrain_on:
        raise CliInputError("--finetune-on needs --pretrain-on TABLES (comma-separated).")
    encoder = PretrainedEncoder.load(args.encoder) if args.encoder else None
    kept: list[dict] = []  # the scored test predictions of each fit, for --plot
    keep = kept.append if args.plot else None
    if args.finetune_on:
        with _progress(args.seeds, "transfer") as bar:
            rows = evaluate_transfer(
                _names(args.pretrain_on),
                args.finetune_on,
                finetune_size=args.finetune_size,
                per_table=args.per_table,
                seeds=list(range(args.seed, args.seed + args.seeds)),
                test_size=args.test_size,
                config=cfg,
                progress=lambda _msg: None,
                encoder=encoder,
                target_signal=args.target,
                on_predictions=keep,
                proxy_cache=args.proxy_cache,
                # the training-free columns cost every proxy per test arch: only when asked
                zc_archs=args.zc_archs if "zc" in _names(args.predictors or "") else 0,
            )
            bar(args.seeds)
        summary = summarize(rows, keys=("mode", "archs"))
    else:
        preds = _names(args.predictors) if args.predictors else list(PREDICTORS)
        unknown = [p for p in preds if p not in PREDICTORS]
        if unknown:
            raise CliInputError(
                f"--predictors: unknown {unknown[0]!r}; choose from {list(PREDICTORS)}."
            )
        sizes = _ints(args.train_sizes, "--train-sizes")
        protocol = _protocol(args, sizes)
        learned = [p for p in preds if p not in ("params", "flops", "zc")]
        total = args.seeds * len(sizes) * len(learned)
        with _progress(total, "fitting predictors") as bar:
            rows = evaluate_table(
                args.table,
                train_sizes=sizes,
                seeds=list(protocol.seeds),
                test_size=args.test_size,
                predictors=preds,
                config=cfg,
                zc_archs=args.zc_archs if "zc" in preds else 0,
                pretrained=encoder,
                progress=lambda _msg: bar(1),
                target=args.target,
                split=args.split,
                on_predictions=keep,
                proxy_cache=args.proxy_cache,
            )
        summary = summarize(rows)
    plotted = _plot(args, kept, protocol) if args.plot else None
    text = "\n".join(
        " ".join(
            f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
            for k, v in s.items()
            if not k.endswith("_std")
        )
        for s in summary
    )
    out: dict[str, Any] = {"config": asdict(cfg), "summary": summary, "rows": rows}
    if plotted is not None:
        out["plot"] = plotted
    if protocol is not None:
        out = {"protocol": protocol.to_dict(), **out}
        text = f"protocol: {protocol.line()}\n{text}"
    emit(out, as_json=args.json, text=text)
    return 0


def _protocol(args: argparse.Namespace, sizes: list[int]) -> Any:
    """The protocol of an in-space eval; a bad --split or --target is a one-line error."""
    from nas.predictors._protocol import SPLITS, TARGETS, Protocol

    if args.split not in SPLITS:
        raise CliInputError(f"--split: expected one of {', '.join(SPLITS)} (got {args.split!r}).")
    if args.target not in TARGETS:
        raise CliInputError(
            f"--target: expected one of {', '.join(TARGETS)} (got {args.target!r}); "
            "test_accuracy is NB-201's 200-epoch accuracy, val_accuracy its 12-epoch signal."
        )
    zc = args.zc_archs if not args.predictors or "zc" in _names(args.predictors) else 0
    test_size = args.test_size if args.split == "random" else None
    seeds = tuple(range(args.seed, args.seed + args.seeds))
    return Protocol(args.table, args.target, args.split, tuple(sizes), seeds, test_size, zc)


def _plot(args: argparse.Namespace, kept: list[dict], protocol: Any) -> dict | None:
    """Draw the first evaluated fit's scored test predictions (gennape's when it ran); the
    predictions go beside the PNG as JSON. No re-fit: the figure is the model in the table."""
    from nas.plot import save_pred_vs_true

    if not kept:
        raise CliInputError("--plot needs a learned predictor in --predictors (e.g. gennape).")
    rec = next((r for r in kept if r["predictor"] == "gennape"), kept[0])
    where = protocol.split if protocol is not None else "transfer"
    title = (
        f"{args.finetune_on or args.table}: {rec['predictor']}, {rec['train_size']} labels, "
        f"split {where}, seed {rec['seed']}"
    )
    return {
        **{k: rec[k] for k in ("predictor", "train_size", "seed")},
        **save_pred_vs_true(rec, args.plot, target=args.target, title=title),
    }


# ---------------------------------------------------------------------------- rank
def _cmd_rank(args: argparse.Namespace) -> int:
    import numpy as np

    from nas.predictors import GennapePredictor, rank_candidates
    from nas.space import get_space

    if args.store and not args.dataset:
        raise CliInputError(
            "--store needs --dataset NAME: the dataset the model predicts for (its rows' "
            "dataset column, e.g. cifar10)."
        )
    space = get_space(args.space)
    model = GennapePredictor.load(args.model) if args.model else None
    with _progress(args.candidates, "ranking") as bar:
        r = rank_candidates(
            space,
            args.candidates,
            args.top,
            model=model,
            rng=np.random.default_rng(args.seed),
            enumerate_all=args.enumerate,
            batch=args.batch,
            threads=args.threads,
            survivors=args.survivors,
            ray=args.ray or args.address is not None,
            shards=args.shards,
            address=args.address,
            progress=bar,
        )
    out = {
        "scorer": r.scorer,
        "candidates": r.candidates,
        "unique": r.unique,
        "graphs_per_s": r.graphs_per_s,
        "seconds": r.seconds,
        "first_pass": r.first_pass,
        "distinct": r.distinct,
        "shards": r.shards,
        "top": [
            {"arch_id": a.arch_id, "arch": a.json_values(), "score": s, "std": sd}
            for a, s, sd in r.top
        ],
    }
    lines = [
        f"{i + 1:3d}. {a.arch_id}  score={s:.4g} ±{sd:.3g}" for i, (a, s, sd) in enumerate(r.top)
    ]
    d = r.distinct
    lines.append(
        f"{r.candidates} candidates: {d.get('decisions')} distinct decisions, "
        f"{d.get('archs')} compiled, {r.unique} distinct graphs scored; "
        f"{r.graphs_per_s:.0f} candidates/s, scorer={r.scorer}"
        + (f", {r.shards} Ray shards" if r.shards else "")
    )
    if r.first_pass is not None:
        fp = r.first_pass
        why = "on by default for this many candidates" if fp["auto"] else "asked for"
        lines.append(
            f"first pass ({why}; --survivors 0 turns it off): {fp['scorer']}, fitted on "
            f"{fp['calibration']} candidates, kept the best {fp['survivors']} of "
            f"{fp['scored']} for the model (held-out Spearman vs the model "
            f"{fp['calibration_spearman']:.3f})"
        )
    if args.store:
        stored = out["store"] = _store_ranking(args, space, r)
        lines.append(
            f"wrote {stored['rows']} prediction rows (status pending, source "
            f"{stored['source']}, run {stored['run_id']}) to {args.store}"
        )
    emit(out, as_json=args.json, text="\n".join(lines))
    return 0


def _store_ranking(args: argparse.Namespace, space: Any, r: Any) -> dict[str, Any]:
    """Append the ranked candidates to the result store at ``args.store``."""
    from pathlib import Path

    from nas.predictors._rank_store import prediction_rows
    from nas.store import ResultStore

    model = Path(args.model).resolve().name if args.model else "params"
    record = {
        "command": ["nas", *sys.argv[1:]],
        "seed": args.seed,
        "candidates": r.candidates,
        "model_path": str(args.model) if args.model else None,
    }
    rows = prediction_rows(r, space, dataset=args.dataset, model=model, record=record)
    ResultStore(args.store).append(rows)
    return {
        "path": str(args.store),
        "rows": len(rows),
        "run_id": rows[0].run_id if rows else None,
        "source": f"predictor:{model}",
    }


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "predictor",
        help="GENNAPE-style performance predictor",
        description="Pretrain, fit, evaluate and rank with the predictor.",
    )
    sub = p.add_subparsers(dest="predictor_command", metavar="SUBCOMMAND")

    def model_flags(q: Any) -> None:
        q.add_argument(
            "--config",
            default=None,
            metavar="JSON",
            help="PredictorConfig fields as a JSON object or @file.json, e.g. "
            '\'{"proxy_inputs": ["synflow_bn"]}\' (the flags below override it)',
        )
        q.add_argument("--epochs", type=int_at_least(1), default=None, help="training epochs")
        q.add_argument("--hidden", type=int_at_least(1), default=None, help="encoder width")
        q.add_argument(
            "--layers", type=int_at_least(1), default=None, help="message-passing layers"
        )
        q.add_argument(
            "--n-clusters",
            dest="n_clusters",
            type=int_at_least(1),
            default=None,
            help="fuzzy clusters / heads (1 = single head)",
        )

    q = sub.add_parser("pretrain", help="contrastive pretraining on unlabelled graphs")
    q.add_argument(
        "--spaces",
        default="nb201,nb_macro,mobilenet,resnet",
        help="comma-separated spaces to sample graphs from",
    )
    q.add_argument("--graphs", type=int_at_least(2), default=1000, help="graphs to sample")
    q.add_argument("--epochs", type=int_at_least(1), default=20)
    q.add_argument("--hidden", type=int_at_least(1), default=64)
    q.add_argument("--layers", type=int_at_least(1), default=3)
    q.add_argument("--seed", type=int_at_least(0), default=0)
    q.add_argument("--out", required=True, help="output directory")
    q.add_argument("--ray", action="store_true", help="one Ray Tune trial per seed")
    q.add_argument("--num-seeds", type=int_at_least(1), default=2, help="seeds (trials) with --ray")
    q.add_argument("--address", default=None, help="with --ray: a Ray cluster to join")
    add_json_flag(q)
    q.set_defaults(handler=_cmd_pretrain)

    q = sub.add_parser("fit", help="fit the predictor on a benchmark table and save it")
    q.add_argument("--table", default="nb201-cifar10")
    q.add_argument("--train-size", type=int_at_least(2), default=100)
    q.add_argument("--encoder", default=None, help="pretrained encoder directory")
    q.add_argument("--seed", type=int_at_least(0), default=0)
    q.add_argument("--out", required=True, help="model directory")
    model_flags(q)
    add_json_flag(q)
    q.set_defaults(handler=_cmd_fit)

    q = sub.add_parser("eval", help="compare predictors on held-out archs of a table")
    q.add_argument("--table", default="nb201-cifar10")
    q.add_argument("--train-sizes", default="78,156,469,781", help="label counts N")
    q.add_argument(
        "--target",
        default="test_accuracy",
        help="column scored: test_accuracy (NB-201: the 200-epoch accuracy papers report) or "
        "val_accuracy (NB-201: the 12-epoch search signal)",
    )
    q.add_argument(
        "--split",
        default="gates",
        help="gates (train from NB-201 arch_index < 7813, test on the other 7,812), tnasp "
        "(train from all, test on all 15,625) or random (test on --test-size other archs)",
    )
    q.add_argument("--seeds", type=int_at_least(1), default=5)
    q.add_argument(
        "--seed", type=int_at_least(0), default=0, help="first seed (seeds SEED..SEED+SEEDS-1)"
    )
    q.add_argument(
        "--test-size", type=int_at_least(2), default=1000, help="test archs of --split random"
    )
    q.add_argument(
        "--predictors",
        default=None,
        help="comma-separated subset (with --pretrain-on, 'zc' adds the zero-cost proxies and "
        "their rank aggregate on --zc-archs of the test archs)",
    )
    q.add_argument(
        "--zc-archs",
        type=int_at_least(0),
        default=100,
        help="test archs scored by zero-cost proxies",
    )
    q.add_argument("--pretrain-on", default=None, help="transfer: comma-separated source tables")
    q.add_argument("--finetune-on", default=None, help="transfer: target table")
    q.add_argument("--finetune-size", type=int_at_least(2), default=50)
    q.add_argument(
        "--per-table", type=int_at_least(2), default=500, help="transfer: archs per source table"
    )
    q.add_argument(
        "--encoder",
        default=None,
        help="start the graph predictors' encoder from this pretrained encoder directory",
    )
    q.add_argument("--plot", default=None, help="write a predicted-vs-true scatter PNG here")
    q.add_argument(
        "--proxy-inputs",
        default=None,
        help="zero-cost proxies fed to the graph predictors beside FLOPs/params, e.g. "
        "synflow_bn_photo,nwot_photo (a _photo name is fed crops of photos, others noise)",
    )
    q.add_argument(
        "--proxy-cache",
        default=None,
        help="directory keeping zero-cost proxy scores across runs (same figures, less time)",
    )
    model_flags(q)
    add_json_flag(q)
    q.set_defaults(handler=_cmd_eval)

    q = sub.add_parser("rank", help="rank candidates of a space without training them")
    q.add_argument("--space", required=True)
    q.add_argument("--candidates", type=int_at_least(1), default=1000)
    q.add_argument("--top", type=int_at_least(1), default=10)
    q.add_argument("--model", default=None, help="fitted model directory (default: rank by params)")
    q.add_argument("--enumerate", action="store_true", help="enumerate instead of sampling")
    q.add_argument("--seed", type=int_at_least(0), default=0)
    q.add_argument(
        "--batch", type=int_at_least(1), default=64, help="graphs per forward pass (default 64)"
    )
    q.add_argument("--threads", type=int_at_least(1), default=1, help="torch threads (default 1)")
    q.add_argument(
        "--survivors",
        type=int_at_least(0),
        default=None,
        help="cheap first pass on the decisions; the model scores only this many (default: "
        "2048 past 50,000 candidates with --model, else off; 0: off)",
    )
    q.add_argument(
        "--ray",
        action="store_true",
        help="rank on Ray workers (embedded), with the same result as one process",
    )
    q.add_argument("--address", default=None, help="join this Ray cluster (implies --ray)")
    q.add_argument(
        "--shards",
        type=int_at_least(1),
        default=None,
        help="Ray workers (default: the cluster's CPUs; each ranks whole blocks of 65,536 "
        "candidates)",
    )
    q.add_argument(
        "--store",
        default=None,
        metavar="DIR",
        help="append the ranked candidates to this result store as pending rows (source "
        "predictor:MODEL; predicted value, std and rank in extra)",
    )
    q.add_argument("--dataset", default=None, help="with --store: the rows' dataset (cifar10)")
    add_json_flag(q)
    q.set_defaults(handler=_cmd_rank)

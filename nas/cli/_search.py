"""``nas search``: run a search strategy against a benchmark table or real training."""

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
from typing import Any

from nas.cli._common import CliInputError, add_json_flag, emit, int_at_least, number_at_least

__all__ = [
    "parse_budget", "parse_constraint", "parse_duration", "parse_objectives", "ray_options",
    "register",
]  # fmt: skip

_DURATION = re.compile(r"([0-9]{1,9}(?:\.[0-9]{1,9})?)(s|m|h)?")
_UNIT_S = {"s": 1.0, "m": 60.0, "h": 3600.0}
_CONSTRAINT = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(<=|>=)\s*([-+0-9.eE]+)\s*$")


# Flags a run saves with its state: `--resume RUN_DIR` restores them, and refuses different ones.
SETTINGS: dict[str, Any] = {
    "space": None, "evaluator": None, "dataset": None, "strategy": "random", "option": [],
    "budget": None, "trial_timeout": None, "seed": 0, "store": None, "executor": None,
    "address": None, "cpus_per_trial": 1.0, "gpus_per_trial": 0.0, "max_concurrent": 2,
    "scheduler": "fifo", "max_failures": 0, "device": "auto", "epochs": None,
    "ray_storage": None, "keep_weights": 3, "objectives": "val_accuracy:max", "constraint": [],
    "optuna_storage": None, "dashboard": False, "tune_loggers": None,
}  # fmt: skip
_DEVICE = re.compile(r"auto|cpu|cuda(:[0-9]{1,3})?")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "search",
        help="search a space with a strategy (tabular benchmark or real training)",
        description="Search SPACE with a strategy. `--evaluator tabular:TABLE` answers every "
        "arch from a shipped benchmark table (in-process, thousands of queries a second); "
        "`--dataset NAME` trains every arch (through nas.run; `--executor ray` for Ray Tune "
        "trials). Prints the best arch and the Pareto front. `--resume RUN_DIR` alone "
        "continues a saved search with the flags it was started with.",
    )
    p.add_argument("--space", help="a registered space (see `nas spaces`)")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--evaluator", metavar="tabular:TABLE", help="e.g. tabular:nb201-cifar10")
    what.add_argument("--dataset", help="train every candidate on this dataset (e.g. digits)")
    p.add_argument(
        "--strategy",
        help="random (default), rea, ls, tpe, nsga2, ...; or a one-shot method (darts, "
        "beta_darts, spos: one supernet trial with --dataset, --budget counting its epochs)",
    )
    p.add_argument(
        "--option",
        action="append",
        metavar="KEY=VALUE",
        help="a strategy option (VALUE is JSON, else a string), e.g. population_size=20",
    )
    p.add_argument("--budget", help="evaluations (500) or wall-clock time (90s, 15m, 2h)")
    p.add_argument(
        "--trial-timeout",
        type=parse_duration,
        metavar="DURATION",
        help="wall-clock limit of one trial (90s, 15m, 2h): a trial past it is stopped and "
        "stored as `timeout` with the epochs it finished (default: none; with a time "
        "--budget no trial runs past the budget's end)",
    )
    p.add_argument("--seed", type=int_at_least(0), help="strategy and evaluation seed (default 0)")
    p.add_argument("--store", metavar="DIR", help="result store directory (or URI)")
    p.add_argument(
        "--executor",
        choices=("local", "ray"),
        help="where evaluations run: ray (Ray Tune trials; the default with --dataset) or "
        "local (in-process; the default with a tabular evaluator)",
    )
    p.add_argument("--address", help="Ray cluster address (default: start Ray here)")
    p.add_argument("--cpus-per-trial", type=number_at_least(0, above=True), help="default 1")
    p.add_argument("--gpus-per-trial", type=number_at_least(0), help="default 0")
    p.add_argument("--max-concurrent", type=int_at_least(1), help="default 2")
    p.add_argument("--scheduler", choices=("fifo", "asha", "hyperband"), help="default fifo")
    p.add_argument(
        "--run-dir",
        help="run directory, where the search state lives; its name is the run id "
        "(default with --store: STORE.runs/RUN_ID beside a local store, ./nas-runs/RUN_ID for "
        "an object-store URI such as s3://...)",
    )
    p.add_argument(
        "--max-failures",
        type=int_at_least(-1),
        help="retries of a trial whose worker raised or died (-1: unlimited; default 0)",
    )
    p.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue the search saved in RUN_DIR (its run id) with its saved flags; flags "
        "given again must agree with them",
    )
    p.add_argument(
        "--device", type=_device, help="training device: auto (default), cpu, cuda, cuda:N"
    )
    p.add_argument(
        "--epochs", type=int_at_least(1), help="override every candidate's training epochs"
    )
    p.add_argument(
        "--ray-storage",
        metavar="PATH_OR_URI",
        help="Ray Tune's trial files and the trials' weights (default RUN_DIR/tune); on a "
        "cluster a path every node mounts or a URI such as s3://bucket/prefix",
    )
    p.add_argument(
        "--keep-weights",
        type=int_at_least(0),
        metavar="K",
        help="trained trials whose best-epoch weights stay on disk, the best K (default 3; "
        "about 4 bytes per parameter each)",
    )
    p.add_argument(
        "--objectives",
        help="comma-separated METRIC:max|min (default val_accuracy:max), e.g. "
        "val_accuracy:max,params:min",
    )
    p.add_argument(
        "--constraint",
        action="append",
        metavar="EXPR",
        help="a hard bound, METRIC<=V or METRIC>=V (repeatable), e.g. params<=1e6",
    )
    p.add_argument(
        "--dashboard",
        action="store_const",
        const=True,
        help="start Ray's dashboard with an embedded Ray (URL printed; needs ray[default])",
    )
    p.add_argument(
        "--tune-loggers",
        metavar="NAMES",
        help="Tune's own loggers, fed from every epoch: comma-separated csv, tensorboard, "
        "mlflow (files under the Tune storage, RUN_DIR/tune; tensorboard --logdir it)",
    )
    p.add_argument(
        "--optuna-storage",
        metavar="URL",
        help="where an Optuna strategy (tpe, nsga2) keeps its study: sqlite:///PATH, any "
        "SQLAlchemy URL, or journal:PATH (default RUN_DIR/optuna.sqlite3; open it with "
        "optuna-dashboard); the study is named after the run id",
    )
    p.add_argument(
        "--top", type=int_at_least(0), default=10, help="Pareto members to print (default 10)"
    )
    add_json_flag(p)
    p.set_defaults(handler=_search)


def _device(text: str) -> str:
    if not _DEVICE.fullmatch(text):
        raise argparse.ArgumentTypeError(f"expected auto, cpu, cuda or cuda:N, got {text!r}")
    return text


def parse_duration(text: str) -> float:
    """``"90s"``/``"15m"``/``"2h"`` (or plain seconds) -> seconds (an argparse ``type``)."""
    m = _DURATION.fullmatch(text.strip())
    seconds = float(m.group(1)) * _UNIT_S[m.group(2) or "s"] if m else 0.0
    if not seconds > 0:
        raise argparse.ArgumentTypeError(
            f"expected a duration such as 90s, 15m or 2h, got {text!r}"
        )
    return seconds


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    """Fill ``args`` from the resumed run's saved flags (refusing different ones), then the
    defaults; returns the settings this run saves."""
    given = {k: getattr(args, k) for k in SETTINGS if getattr(args, k) is not None}
    if args.resume:
        from nas.search._run import saved_settings

        saved = saved_settings(args.resume)
        for key, value in given.items():
            if key in saved and saved[key] != value:
                flag = "--" + key.replace("_", "-")
                raise CliInputError(
                    f"--resume: {flag} {value!r} disagrees with the run's saved {saved[key]!r}; "
                    f"drop {flag} to continue with the saved value, or start a new run."
                )
        given = {**saved, **given}
    for key, default in SETTINGS.items():
        setattr(args, key, given.get(key, default))
    if args.space is None or args.budget is None or not (args.evaluator or args.dataset):
        raise CliInputError(
            "nas search needs --space, --budget and --evaluator or --dataset (or --resume "
            "RUN_DIR of a run that saved them)."
        )
    if args.executor is None:  # training runs as Ray trials, tabular look-ups in-process
        args.executor = "local" if args.evaluator is not None else "ray"
    return {k: getattr(args, k) for k in SETTINGS}


def parse_budget(text: str) -> tuple[int | None, float | None]:
    """``"500"`` -> (500, None); ``"90s"``/``"15m"``/``"2h"`` -> (None, seconds).

    Example:
        >>> parse_budget("15m")
        (None, 900.0)
    """
    text = str(text).strip()
    if re.fullmatch("[0-9]{1,12}", text) and int(text) > 0:
        return int(text), None
    m = _DURATION.fullmatch(text)
    if m and m.group(2) and float(m.group(1)) > 0:
        return None, float(m.group(1)) * _UNIT_S[m.group(2)]
    raise CliInputError(
        f"--budget: expected a positive number of evaluations (500) or a duration "
        f"(90s, 15m, 2h), got {text!r}."
    )


def parse_objectives(text: str) -> list[Any]:
    """``"val_accuracy:max,params:min"`` -> ``[Objective(...), Objective(...)]``."""
    from nas.search import Objective

    out = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        metric, _, direction = part.partition(":")
        direction = direction or "max"
        if not metric or direction not in ("max", "min"):
            raise CliInputError(
                f"--objectives: expected METRIC:max or METRIC:min items, got {part!r} "
                f"(e.g. val_accuracy:max,params:min)."
            )
        out.append(Objective(metric, direction))  # type: ignore[arg-type]
    if not out:
        raise CliInputError("--objectives: give at least one METRIC:max|min.")
    return out


def parse_constraint(text: str) -> Any:
    """``"params<=1e6"`` -> ``Constraint("params", max=1e6)`` (bounds inclusive)."""
    from nas.search import Constraint

    m = _CONSTRAINT.match(text)
    try:
        value = float(m.group(3)) if m else None
    except ValueError:
        value = None
    if m is None or value is None:
        raise CliInputError(
            f"--constraint: expected METRIC<=VALUE or METRIC>=VALUE, got {text!r} "
            f"(e.g. params<=1e6)."
        )
    if m.group(2) == "<=":
        return Constraint(m.group(1), max=value)
    return Constraint(m.group(1), min=value)


def _options(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.isidentifier():
            raise CliInputError(f"--option: expected KEY=VALUE, got {item!r}.")
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


def _tabular(spec: str, space: Any) -> Any:
    from nas.bench import TabularEvaluator, table_info

    kind, _, table = spec.partition(":")
    if kind != "tabular" or not table:
        raise CliInputError(
            f"--evaluator: expected tabular:TABLE (e.g. tabular:nb201-cifar10), got {spec!r}; "
            f"to train candidates use --dataset."
        )
    info = table_info(table)
    if space.name not in info.spaces:
        raise CliInputError(
            f"Table {table!r} holds space(s) {info.space}, not {space.name!r}; pass "
            f"--space {info.spaces[0]}."
        )
    dataset = None
    if len(info.datasets) > 1:  # a multi-task table: the space picks its rows
        dataset = {"nb201": "cifar10", "nb201_c100": "cifar100"}.get(space.name)
    return TabularEvaluator(table, dataset=dataset)


def _training(args: argparse.Namespace, space: Any) -> Any:
    try:
        from nas.run import TrainingEvaluator
    except ImportError as exc:
        raise CliInputError(
            f"Training searches need nas.run, which failed to import ({exc}); use "
            f"--evaluator tabular:TABLE, or reinstall nas-engine with its dependencies."
        ) from None
    if args.executor == "local":  # trials train here: a device this host lacks fails now
        from nas.errors import TrainingError
        from nas.train import resolve_device

        try:
            resolve_device(args.device)
        except TrainingError as exc:
            raise CliInputError(f"--device: {exc}") from None
    overrides = {"epochs": args.epochs} if args.epochs else None
    return TrainingEvaluator(space, args.dataset, device=args.device, recipe_overrides=overrides)


def _search(args: argparse.Namespace) -> int:
    from nas.search import get_strategy, run
    from nas.search._optuna import optuna_study
    from nas.search._run import new_run_id
    from nas.space import get_space

    settings = _settings(args)
    budget, time_budget_s = parse_budget(args.budget)
    objectives = parse_objectives(args.objectives)
    constraints = [parse_constraint(c) for c in args.constraint]
    space = get_space(args.space)
    run_dir = args.resume or args.run_dir
    if run_dir is None and args.store:  # the run directory's name is the rows' run id
        run_dir = _default_run_dir(args.store, new_run_id())
    if (args.dashboard or args.tune_loggers) and args.executor != "ray":
        raise CliInputError("--dashboard and --tune-loggers need --executor ray (Ray Tune trials).")
    if args.executor == "ray" and not args.store:
        raise CliInputError("--executor ray needs --store DIR (where every trial's result lands).")
    from nas.hw import with_latency
    from nas.oneshot import METHODS as ONESHOT_METHODS

    if args.strategy in ONESHOT_METHODS:  # one supernet trial; --budget counts its epochs
        from nas.oneshot import plan_from_cli

        strategy, evaluator = plan_from_cli(
            args.strategy, space, dataset=args.dataset, budget=budget, epochs_flag=args.epochs,
            seed=args.seed, device=args.device, objectives=objectives, constraints=constraints,
            options=_options(args.option),
        )  # fmt: skip
        budget, time_budget_s = 1, None
    else:
        strategy = get_strategy(
            args.strategy,
            space,
            objectives=objectives,
            constraints=constraints,
            seed=args.seed,
            **_options(args.option),
            **optuna_study(args.strategy, args.optuna_storage, run_dir),
        )
        evaluator = _tabular(args.evaluator, space) if args.evaluator else _training(args, space)
        evaluator = with_latency(  # latency_<device> objectives read a latency table (nas.hw)
            evaluator, [o.metric for o in objectives] + [c.metric for c in constraints], space.name
        )
    out = run(
        space,
        strategy,
        evaluator,
        executor="ray" if args.executor == "ray" else "inprocess",
        budget=budget,
        time_budget_s=time_budget_s,
        trial_timeout_s=args.trial_timeout,
        store=args.store,
        run_dir=run_dir,
        resume=bool(args.resume),
        seed=args.seed,
        progress=not args.json or sys.stderr.isatty(),
        ray=ray_options(args) if args.executor == "ray" else None,
        export_best=args.evaluator is None,
        keep_checkpoints=args.keep_weights,
        settings=settings,
    )
    _report(args, out, objectives, constraints)
    if out.interrupted:
        return 130
    _check_some_ran(out.results)
    return 0


def ray_options(args: argparse.Namespace) -> Any:
    """The ``RayOptions`` of parsed flags named like its fields (``--max-concurrent`` is
    ``max_concurrent``; ``--ray-storage`` is ``storage``, ``--tune-loggers`` the
    comma-separated ``loggers``); a flag that is absent or None keeps the default."""
    from dataclasses import fields

    from nas.search import RayOptions

    given = {f.name: getattr(args, f.name, None) for f in fields(RayOptions)}
    given["storage"] = getattr(args, "ray_storage", None)
    names = getattr(args, "tune_loggers", None)
    if names is not None:
        given["loggers"] = tuple(n.strip() for n in names.split(",") if n.strip())
    return RayOptions(**{k: v for k, v in given.items() if v is not None})


def _check_some_ran(results: list[Any]) -> None:
    """A run whose every evaluation failed is a failed command: say the most common reason."""
    from collections import Counter

    from nas.errors import EvaluationError

    failed = [r for r in results if r.status in ("failed", "timeout")]
    if failed and not any(r.status in ("ok", "diverged") for r in results):
        (reason, count), *_ = Counter(r.error or r.status for r in failed).most_common(1)
        raise EvaluationError(
            f"Every evaluation of the run failed ({len(failed)}); the most common reason "
            f"({count}): {reason}"
        )


def _default_run_dir(store: str, run_id: str) -> str:
    """``STORE.runs/RUN_ID`` beside a local store, so the store directory holds Parquet
    files only (polars, pandas and DuckDB read it as is); ``./nas-runs/RUN_ID`` beside
    an object store."""
    from pathlib import Path

    if "://" in store and not store.startswith("file://"):
        return str(Path("nas-runs") / run_id)
    data = Path(store.removeprefix("file://"))
    if data.name in ("", ".", ".."):
        data = data.resolve()
    return str(data.with_name(f"{data.name}.runs") / run_id)


def _summary(result: Any, metrics: list[str]) -> dict[str, Any]:
    from nas.search import result_metrics

    values = result_metrics(result)  # columns and extras (a latency_<device> objective)
    return {
        "arch_id": result.arch_id,
        "arch": result.arch_dict(),
        "graph_hash": result.graph_hash,
        "trial_id": result.trial_id,
        "metrics": {m: values.get(m) for m in metrics},
    }


def _report(
    args: argparse.Namespace, out: Any, objectives: list[Any], constraints: list[Any]
) -> None:
    shown = ["val_accuracy", "test_accuracy", "params", "flops", "latency_ms", "train_seconds"]
    shown += [o.metric for o in objectives if o.metric not in shown]
    statuses: dict[str, int] = {}
    for r in out.results:
        statuses[r.status] = statuses.get(r.status, 0) + 1
    payload = {
        "run_id": out.run_id,
        "run_dir": None if out.run_dir is None else str(out.run_dir),
        "interrupted": out.interrupted,
        "space": args.space,
        "strategy": args.strategy,
        "seed": args.seed,
        "evaluations": len(out.results),
        "proposed": out.proposed,
        "trained": out.trained,
        "statuses": statuses,
        "wall_seconds": round(out.wall_seconds, 3),
        "store": args.store,
        "objectives": [[o.metric, o.direction] for o in objectives],
        "constraints": [[c.metric, c.min, c.max] for c in constraints],
        "best": None if out.best is None else _summary(out.best, shown),
        "pareto": [_summary(r, shown) for r in out.pareto],
        "hypervolume": _hypervolume(out, objectives) if len(objectives) > 1 else None,
        "onnx": None if out.onnx is None else str(out.onnx),
    }
    if args.json:
        emit(payload, as_json=True)
        return
    ended = "interrupted" if out.interrupted else "finished"
    lines = [
        f"Search {ended}, run {out.run_id}: {out.proposed} proposed, {out.trained} trained "
        f"in {out.wall_seconds:.2f}s "
        f"({', '.join(f'{k} {v}' for k, v in sorted(statuses.items()))})"
    ]
    if out.interrupted:
        if out.run_dir is None:
            lines.append("Nothing to resume from: pass --store DIR (or --run-dir) to keep state.")
        else:
            lines.append(f"Resume with: nas search --resume {shlex.quote(str(out.run_dir))}")
    if out.best is None:
        lines.append("no feasible result")
    else:
        best = payload["best"]
        lines.append(f"best arch_id {best['arch_id']}")
        lines.append(f"  arch    {json.dumps(best['arch'], sort_keys=True)}")
        lines.append("  metrics " + _fmt(best["metrics"]))
    if len(objectives) > 1 or len(out.pareto) > 1:
        hv = payload["hypervolume"]
        volume = "" if hv is None else f"; hypervolume {hv:.6g}, reference: the worst of each"
        lines.append(
            f"Pareto front ({len(out.pareto)} archs over {payload['objectives']}{volume}):"
        )
        for item in payload["pareto"][: args.top]:
            lines.append(f"  {item['arch_id']}  {_fmt(item['metrics'])}")
    if out.onnx is not None:
        lines.append(f"ONNX of the best arch: {out.onnx}")
    emit(payload, as_json=False, text="\n".join(lines))


def _hypervolume(out: Any, objectives: list[Any]) -> float | None:
    """The front's hypervolume in the objectives' units, bounded by the worst value of each
    objective among the run's results that have them all (as `nas plot pareto` draws it)."""
    from nas.hw import hypervolume
    from nas.search import result_metrics

    def point(r: Any) -> list[float] | None:
        m = result_metrics(r)
        return (
            None
            if any(o.metric not in m for o in objectives)
            else [-o.sign * m[o.metric] for o in objectives]
        )

    points = [p for r in out.results if r.status == "ok" and (p := point(r)) is not None]
    front = [p for r in out.pareto if (p := point(r)) is not None]
    return hypervolume(front, [max(c) for c in zip(*points)]) if points and front else None


def _fmt(metrics: dict[str, Any]) -> str:
    return "  ".join(
        f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}"
        for k, v in metrics.items()
        if v is not None
    )

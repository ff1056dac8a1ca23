"""``nas bench`` (the shipped benchmark tables) and ``nas benchmark search`` (strategy races)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from nas.cli._common import CliInputError, add_json_flag, emit, int_at_least
from nas.errors import NasError

__all__ = ["register"]


def register(subparsers: Any) -> None:
    _register_bench(subparsers)
    _register_benchmark(subparsers)


# --------------------------------------------------------------------------- nas bench
def _register_bench(subparsers: Any) -> None:
    sub = _group(
        subparsers,
        "bench",
        help="list, show, rebuild and add benchmark tables",
        description="Benchmark tables in the result-store schema (datasets/NAME.parquet).",
    )

    ls = sub.add_parser(
        "list",
        help="name, rows, space and source of every table; then the latency tables",
        description="Every result table (name, rows, space, source), then the latency tables "
        "of nas.hw in their own section (name, rows, device settings, size, source). --json: "
        '{"tables": [...], "latency_tables": [...]}.',
    )
    add_json_flag(ls)
    ls.set_defaults(handler=_list)

    show = sub.add_parser("show", help="a table's card summary and top rows")
    show.add_argument("name", help="table name (see `nas bench list`)")
    show.add_argument(
        "--limit", type=int_at_least(0), default=5, help="top rows by val_accuracy (default 5)"
    )
    add_json_flag(show)
    show.set_defaults(handler=_show)

    imp = sub.add_parser(
        "import",
        help="rebuild a table from the public benchmark files",
        description="Rebuild datasets/NAME.parquet from the public files under "
        "shared/benchmarks/<folder> (every NB-201/NB-Macro row is compiled through our IR). "
        "NAME is a table of `nas bench list` or a latency table (help-nb201, help-fbnet, "
        "hat-latency).",
    )
    imp.add_argument("name", help="table name (see `nas bench list`) or a latency table")
    imp.add_argument(
        "--source", required=True, metavar="DIR", help="shared/benchmarks or its <folder>"
    )
    imp.add_argument("--out", metavar="DIR", help="write here instead of datasets/")
    imp.add_argument("--processes", type=int, help="compile workers (default: up to 2)")
    add_json_flag(imp)
    imp.set_defaults(handler=_import)

    add = sub.add_parser(
        "add",
        help="convert your own table into a benchmark table and register it",
        description="Convert FILE.parquet (one row per arch) into the result-store schema "
        "under the datasets folder ($NAS_DATASETS_DIR), with a card, and register it as NAME: "
        "`nas bench list`, `nas benchmark search --table NAME`, `nas search --evaluator "
        "tabular:NAME` and the predictor tables then see it.",
    )
    add.add_argument("name", help="the new table's name, e.g. my-nb201")
    add.add_argument("file", metavar="FILE.parquet", help="your table")
    add.add_argument("--space", required=True, help="the registered space of every arch")
    add.add_argument(
        "--arch-column",
        required=True,
        metavar="COL",
        help="arch JSON, a {path: value} JSON mapping, or a string the space parses "
        "(nb201 arch strings, nb_macro digits)",
    )
    add.add_argument("--signal", required=True, metavar="COL", help="becomes val_accuracy")
    add.add_argument("--report", metavar="COL", help="becomes test_accuracy")
    add.add_argument("--dataset", default="custom", help="the rows' dataset (default custom)")
    add.add_argument("--license", default="not stated", help="the data's license, for the card")
    add.add_argument("--replace", action="store_true", help="overwrite your table NAME")
    add.add_argument("--processes", type=int, help="compile workers (default: up to 2)")
    add_json_flag(add)
    add.set_defaults(handler=_add)


def _group(subparsers: Any, name: str, *, help: str, description: str) -> Any:
    """A command group ``nas NAME COMMAND``; ``nas NAME`` alone prints its help (exit 2)."""
    group = subparsers.add_parser(name, help=help, description=description)
    group.set_defaults(handler=lambda args: _help(group))
    return group.add_subparsers(dest=f"{name}_command", metavar="COMMAND")


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _list(args: argparse.Namespace) -> int:
    """Result tables, then latency tables (their own catalogue: ``nas.hw``, no accuracy)."""
    from nas.bench import list_tables, table_info, table_rows

    rows: list[dict[str, Any]] = []
    for name in list_tables():
        info = table_info(name)
        rows.append(
            {"name": name, "rows": table_rows(name), "space": info.space, "source": info.source}
        )
    latency = _latency_tables()
    width = max(len(str(r["name"])) for r in [*rows, *latency])
    spaces = min(28, max(len(str(r["space"])) for r in rows))
    head = f"{'name':<{width}} {'rows':>8}  {'space':<{spaces}} source"
    lines = [head] + [
        f"{r['name']:<{width}} {_count(r['rows'])}  {r['space']:<{spaces}} {r['source']}"
        for r in rows
    ]
    lines += [
        "",
        "latency tables (nas.hw; no accuracy: objectives latency_DEVICE, ms)",
        f"{'name':<{width}} {'rows':>8}  {'devices':>7} {'size':>8}  source",
    ]
    lines += [
        f"{r['name']:<{width}} {_count(r['rows'])}  {_count(r['devices'], 7)} "
        f"{_size(r['bytes']):>8}  {r['source']}"
        for r in latency
    ]
    emit({"tables": rows, "latency_tables": latency}, as_json=args.json, text="\n".join(lines))
    return 0


def _latency_tables() -> list[dict[str, Any]]:
    """Name, rows, device settings, file size, spaces and source of each latency table."""
    from nas.hw import latency_table, latency_table_info, latency_table_path, list_latency_tables

    out = []
    for name in list_latency_tables():
        info, path = latency_table_info(name), latency_table_path(name)
        table = latency_table(name) if path.is_file() else None
        out.append(
            {
                "name": name,
                "rows": None if table is None else len(table),
                "devices": None if table is None else len(table.devices),
                "bytes": path.stat().st_size if table is not None else None,
                "spaces": list(info.spaces),
                "source": info.source,
            }
        )
    return out


def _count(value: int | None, width: int = 8) -> str:
    return f"{value if value is not None else 'missing':>{width}}"


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"


def _show(args: argparse.Namespace) -> int:
    import pyarrow.compute as pc

    from nas.bench import load_table, table_info, table_path

    info = table_info(args.name)
    table = load_table(args.name)
    ok = table.filter(pc.is_valid(table["val_accuracy"]))
    order = pc.sort_indices(ok, sort_keys=[("val_accuracy", "descending")])
    top = ok.take(order[: max(0, args.limit)]).to_pylist()
    stats: dict[str, Any] = {}
    for column in ("val_accuracy", "test_accuracy", "params", "flops"):
        mm = pc.min_max(table[column]).as_py()
        stats[column] = {"min": mm["min"], "max": mm["max"], "nulls": table[column].null_count}
    card = table_path(args.name).with_suffix(".md")
    payload = {
        "name": info.name,
        "rows": table.num_rows,
        "spaces": list(info.spaces),
        "datasets": sorted(set(table["dataset"].to_pylist())),
        "source": info.source,
        "signal": info.signal,
        "reported": info.reported,
        "card": str(card) if card.is_file() else None,
        "stats": stats,
        "top": [
            {
                k: r[k]
                for k in (
                    "arch_id",
                    "space",
                    "dataset",
                    "val_accuracy",
                    "test_accuracy",
                    "params",
                    "flops",
                    "extra",
                )
            }
            for r in top
        ],
    }
    lines = [
        f"{info.name}: {table.num_rows} rows, space {info.space}",
        f"source    {info.source}",
        f"signal    val_accuracy = {info.signal}",
        f"reported  test_accuracy = {info.reported}",
    ]
    for column, s in stats.items():
        lines.append(f"{column:<14} min {s['min']}  max {s['max']}  nulls {s['nulls']}")
    lines.append(f"top {len(top)} by val_accuracy:")
    for r in payload["top"]:
        lines.append(
            f"  {r['arch_id']}  val {r['val_accuracy']}  test {r['test_accuracy']}  "
            f"params {r['params']}"
        )
    if payload["card"]:
        lines.append(f"card      {payload['card']}")
    emit(payload, as_json=args.json, text="\n".join(lines))
    return 0


def _rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(path).metadata.num_rows)


def _import(args: argparse.Namespace) -> int:
    from nas.bench import import_table
    from nas.hw import import_latency_table, list_latency_tables

    if args.name in list_latency_tables():
        path = import_latency_table(args.name, args.source, out_dir=args.out)
    else:
        path = import_table(
            args.name,
            args.source,
            out_dir=args.out,
            processes=args.processes,
            progress=not args.json,
        )
    rows = _rows(path)
    payload = {"name": args.name, "path": str(path), "rows": rows, "bytes": path.stat().st_size}
    emit(payload, as_json=args.json, text=f"wrote {rows} rows to {path}")
    return 0


def _add(args: argparse.Namespace) -> int:
    from nas.bench import add_table

    path = add_table(
        args.name,
        args.file,
        space=args.space,
        arch_column=args.arch_column,
        signal=args.signal,
        report=args.report,
        dataset=args.dataset,
        license=args.license,
        replace=args.replace,
        processes=args.processes,
        progress=not args.json,
    )
    rows = _rows(path)
    payload = {
        "name": args.name,
        "path": str(path),
        "rows": rows,
        "card": str(path.with_suffix(".md")),
    }
    emit(payload, as_json=args.json, text=f"added table {args.name}: {rows} rows at {path}")
    return 0


# --------------------------------------------------------------------------- nas benchmark
def _register_benchmark(subparsers: Any) -> None:
    sub = _group(
        subparsers,
        "benchmark",
        help="compare search strategies on benchmark tables",
        description="Reproducible experiments on the shipped benchmark tables.",
    )

    s = sub.add_parser(
        "search",
        help="race strategies over seeds; report incumbent test accuracy and regret",
        description="Run every strategy over every seed with the tabular evaluator. At each "
        "checkpoint reports mean and std (over seeds) of the test accuracy of the arch with "
        "the best search signal so far, and its regret to the table's best test accuracy.",
    )
    s.add_argument(
        "--table", required=True, help="a table with test_accuracy (see `nas bench list`)"
    )
    s.add_argument("--strategies", default="random,rea,ls,tpe", help="comma-separated names")
    s.add_argument("--queries", type=int, default=150, help="evaluations per run (default 150)")
    s.add_argument("--seeds", type=int, default=20, help="runs per strategy (seeds 0..N-1)")
    s.add_argument("--checkpoints", help="comma-separated query counts (default 10,25,50,...)")
    s.add_argument("--plot", metavar="PATH.png", help="write the regret curves here")
    s.add_argument("--store", metavar="DIR", help="also append every evaluation to this store")
    s.add_argument("--processes", type=int, default=1, help="worker processes (default 1)")
    s.add_argument(
        "--objectives",
        metavar="METRIC:max|min,...",
        help="as for nas search; val_accuracy:max,latency_DEVICE:min (a device of "
        "--latency-table) races for Pareto fronts and reports hypervolume ratios",
    )
    s.add_argument(
        "--latency-table",
        default="help-nb201",
        help="latency table of the latency_DEVICE objective (default help-nb201)",
    )
    add_json_flag(s)
    s.set_defaults(handler=_benchmark_search)


def _ints(text: str, flag: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise CliInputError(f"{flag}: expected comma-separated positive ints, got {text!r}.")
    return values


def _benchmark_search(args: argparse.Namespace) -> int:
    from nas.bench import compare_strategies, table_info
    from nas.search import list_strategies

    table_info(args.table)  # unknown names fail here, with close matches
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    known = set(list_strategies())
    unknown = [s for s in strategies if s not in known]
    if not strategies or unknown:
        raise CliInputError(
            f"--strategies: unknown {unknown or strategies!r}; use some of "
            f"{', '.join(sorted(known))}."
        )
    if args.queries < 1 or args.seeds < 1 or args.processes < 1:
        raise CliInputError("--queries, --seeds and --processes must be positive ints.")
    checkpoints = _ints(args.checkpoints, "--checkpoints") if args.checkpoints else None
    device = _latency_device((args.objectives or "").split(","), args.latency_table)
    if device is not None:
        return _pareto_search(args, strategies, device, checkpoints)
    if args.plot and Path(args.plot).suffix.lower() != ".png":
        raise CliInputError(f"--plot: expected a .png path, got {args.plot!r}.")
    result = compare_strategies(
        args.table,
        strategies,
        queries=args.queries,
        seeds=args.seeds,
        checkpoints=checkpoints,
        store=args.store,
        processes=args.processes,
        progress=not args.json or sys.stderr.isatty(),
    )
    payload = result.to_dict()
    if args.plot:
        payload["plot"] = str(result.plot(args.plot))
    emit(payload, as_json=args.json, text=_table_text(result, payload.get("plot")))
    return 0


def _table_text(result: Any, plot: str | None) -> str:
    head = (
        f"{result.table}: optimum test accuracy {result.optimum_test_accuracy:.2f}%, "
        f"{len(result.seeds)} seeds, mean ± std of the incumbent's test accuracy (regret)"
    )
    width = max(8, *(len(n) for n in result.curves))
    lines = [head, f"{'queries':<{width}} " + " ".join(f"{c:>22}" for c in result.checkpoints)]
    for name, c in result.curves.items():
        cells = [
            f"{m:6.2f}±{s:4.2f} ({r:5.2f})"
            for m, s, r in zip(c.test_accuracy_mean, c.test_accuracy_std, c.regret_mean)
        ]
        lines.append(f"{name:<{width}} " + " ".join(f"{x:>22}" for x in cells))
    lines.append(f"({result.wall_seconds:.1f}s)")
    if plot:
        lines.append(f"plot: {plot}")
    return "\n".join(lines)


def _latency_device(objectives: list[str], table: str) -> str | None:
    """The device of a ``val_accuracy:max`` + ``latency_DEVICE:min`` pair, None for no
    ``--objectives`` or ``val_accuracy:max`` alone; anything else is one line."""
    from nas.hw import latency_table

    objectives = [o.strip() for o in objectives if o.strip()]
    pairs = [o.partition(":")[::2] for o in objectives]
    if not pairs or pairs == [("val_accuracy", "max")]:
        return None
    latency = [m for m, d in pairs if m.startswith("latency_") and d == "min"]
    if len(pairs) != 2 or ("val_accuracy", "max") not in pairs or len(latency) != 1:
        raise CliInputError(
            f"--objectives: expected val_accuracy:max, optionally with one latency_DEVICE:min "
            f"(e.g. val_accuracy:max,latency_pixel3:min), got {','.join(objectives)}."
        )
    try:
        return latency_table(table).check_device(latency[0].removeprefix("latency_"))
    except NasError as exc:
        raise CliInputError(f"--objectives {latency[0]}:min: {exc}") from None


def _pareto_search(
    args: argparse.Namespace, strategies: list[str], device: str, checkpoints: list[int] | None
) -> int:
    from nas.hw import compare_pareto

    if args.plot or args.store or args.processes != 1:
        raise CliInputError(
            "--plot, --store and --processes are for single-objective races; drop them with "
            "a latency objective."
        )
    result = compare_pareto(
        args.table,
        strategies,
        latency_table=args.latency_table,
        device=device,
        queries=args.queries,
        seeds=args.seeds,
        checkpoints=checkpoints,
        progress=not args.json or sys.stderr.isatty(),
    )
    payload = result.to_dict()
    head = (
        f"{result.table} x {result.latency_table}:{device}: hypervolume ratio to the table's "
        f"true front ({len(result.true_front)} archs), mean ± std over {len(result.seeds)} "
        f"seeds; in brackets the same fronts judged on test accuracy"
    )
    width = max(8, *(len(n) for n in strategies))
    lines = [head, f"{'queries':<{width}} " + " ".join(f"{c:>22}" for c in result.checkpoints)]
    for name, row in payload["strategies"].items():
        val, test = row["hv_ratio"], row["hv_ratio_test"]
        cells = [
            f"{m:.3f}±{s:.3f} ({t:.3f})" for m, s, t in zip(val["mean"], val["std"], test["mean"])
        ]
        lines.append(f"{name:<{width}} " + " ".join(f"{x:>22}" for x in cells))
    lines.append(f"({result.wall_seconds:.1f}s)")
    emit(payload, as_json=args.json, text="\n".join(lines))
    return 0

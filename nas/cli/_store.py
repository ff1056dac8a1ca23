"""``nas store``: look into, query and maintain a result store directory."""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from nas.cli._common import add_json_flag, emit, stdout_is_tty
from nas.errors import StoreError

__all__ = ["register"]

_SUMMARY_COLUMNS = (
    "space",
    "arch_id",
    "dataset",
    "status",
    "val_accuracy",
    "test_accuracy",
    "params",
    "flops",
)


def register(subparsers: Any) -> None:
    store = subparsers.add_parser(
        "store",
        help="inspect, query and maintain a result store (a directory of Parquet files)",
        description="Inspect, query and maintain a result store (a directory of Parquet files).",
    )
    sub = store.add_subparsers(dest="store_command", metavar="COMMAND")
    store.set_defaults(handler=lambda args: _help(store))

    show = _command(sub, "show", _show, help="row count, files and the most recent or best rows")
    show.add_argument("--limit", type=int, default=10, help="rows to show (default 10)")
    show.add_argument(
        "--best",
        metavar="METRIC",
        help="show the best 'ok' rows by METRIC (e.g. val_accuracy) instead of the most recent",
    )
    show.add_argument("--min", action="store_true", help="with --best: lower is better")

    query = _command(
        sub,
        "query",
        _query,
        help="rows matching a filter",
        description="Print rows matching a filter, e.g. "
        "--where \"space == 'nb201' and val_accuracy > 90\". "
        "Operators: == != < <= > >= and or not, `is null`, `is not null`, `in (...)`.",
    )
    query.add_argument("--where", metavar="EXPR", help="filter expression (default: all rows)")
    query.add_argument("--columns", metavar="A,B", help="comma-separated columns to print")
    query.add_argument("--limit", type=int, metavar="N", help="print at most N rows")
    query.add_argument("--sort", metavar="COL", help="sort by this column (nulls last)")
    query.add_argument("--desc", action="store_true", help="with --sort: largest first")
    query.add_argument(
        "--sql",
        metavar="QUERY",
        help="a DuckDB SQL query over the table `results` (every row of the store), e.g. "
        '"SELECT space, max(val_accuracy) FROM results GROUP BY space" (needs the sql '
        "extra: pip install 'nas-engine[sql]'); not with --where/--columns/--sort",
    )

    _command(sub, "compact", _compact, help="merge all files into one, atomically")
    repair = _command(
        sub,
        "repair",
        _repair,
        help="quarantine unreadable files and clean up after crashed writers",
    )
    repair.add_argument(
        "--older-than",
        type=float,
        default=60.0,
        metavar="MINUTES",
        help="remove crashed writers' temp files older than this (default 60)",
    )


def _command(
    sub: Any, name: str, handler: Callable[[argparse.Namespace], int], **kwargs: Any
) -> argparse.ArgumentParser:
    """A ``nas store NAME DIR ... [--json]`` subcommand run by ``handler``."""
    parser: argparse.ArgumentParser = sub.add_parser(name, **kwargs)
    parser.add_argument("dir", metavar="DIR", help="store directory or URI (file://, s3://, ...)")
    add_json_flag(parser)
    parser.set_defaults(handler=handler)
    return parser


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _open(where: str) -> Any:
    from nas.store import ResultStore

    store = ResultStore(where)
    if not store.is_present():
        raise StoreError(
            f"No result store at {where!r}: the directory does not exist; "
            f"pass the directory that holds the part-*.parquet files."
        )
    return store


def _check_limit(limit: int | None) -> None:
    if limit is not None and limit < 0:
        from nas.cli._common import CliInputError

        raise CliInputError(f"--limit must be 0 or more (got {limit}).")


def _show(args: argparse.Namespace) -> int:
    import pyarrow.compute as pc

    _check_limit(args.limit)
    store = _open(args.dir)
    files = store.files()
    table = store.read(columns=[*_SUMMARY_COLUMNS, "created_at"])
    if args.best:
        mode = "min" if args.min else "max"
        shown = store.top(args.best, args.limit, mode, columns=_SUMMARY_COLUMNS)
        title = f"best {shown.num_rows} by {args.best}"
    else:
        order = pc.sort_indices(table, sort_keys=[("created_at", "descending")])
        shown = table.take(order).slice(0, args.limit)
        title = f"most recent {shown.num_rows}"
    rows = shown.select(list(_SUMMARY_COLUMNS)).to_pylist()
    if args.json:
        emit(
            {
                "path": store.path,
                "rows": table.num_rows,
                "files": files,
                "shown": title,
                "results": [_jsonable(r) for r in rows],
            },
            as_json=True,
        )
        return 0
    print(f"{store.path}: {table.num_rows} rows in {len(files)} file(s)")
    if rows:
        _print_table(rows, list(_SUMMARY_COLUMNS), title)
    return 0


def _query(args: argparse.Namespace) -> int:
    import pyarrow.compute as pc

    if args.sql is not None:
        return _query_sql(args)

    from nas.store import parse_filter
    from nas.store._store import _check_columns

    _check_limit(args.limit)
    # Parse before touching the directory, so a typo is reported as a typo.
    expr = parse_filter(args.where) if args.where else None
    columns = _check_columns(args.columns) or list(_SUMMARY_COLUMNS)
    if args.sort:
        _check_columns([args.sort])
    store = _open(args.dir)
    table = store.read(expr)
    if args.sort:
        order = pc.sort_indices(
            table,
            sort_keys=[(args.sort, "descending" if args.desc else "ascending")],
        )
        table = table.take(order)
    if args.limit is not None:
        table = table.slice(0, args.limit)
    rows = table.select(columns).to_pylist()
    if args.json:
        for row in rows:
            emit(_jsonable(row), as_json=True)
        return 0
    _print_table(rows, columns, f"{len(rows)} row(s)")
    return 0


def _query_sql(args: argparse.Namespace) -> int:
    from nas.cli._common import CliInputError

    _check_limit(args.limit)
    clash = [f for f in ("where", "columns", "sort") if getattr(args, f)]
    if clash:
        raise CliInputError(
            f"--sql does not combine with --{clash[0]}; put it in the SQL (WHERE, SELECT, ORDER BY)."
        )
    try:
        import duckdb
    except ImportError:
        raise StoreError(
            "nas store query --sql needs DuckDB, the sql extra: pip install 'nas-engine[sql]'."
        ) from None
    results = _open(args.dir).read()  # checksummed, every file of the store, one schema
    with duckdb.connect() as con:
        con.register("results", results)
        try:
            relation = con.sql(args.sql)
            if relation is None:
                raise CliInputError(f"--sql returned no table (got a statement: {args.sql!r}).")
            # DuckDB >= 1.4 names it to_arrow_table; older releases arrow.
            table = getattr(relation, "to_arrow_table", None) or relation.arrow
            table = table()
        except duckdb.Error as exc:
            first = str(exc).strip().splitlines()[0]
            raise CliInputError(f"--sql failed: {first} (the table is `results`).") from None
    if args.limit is not None:
        table = table.slice(0, args.limit)
    rows = table.to_pylist()
    if args.json:
        for row in rows:
            emit(_jsonable(row), as_json=True)
        return 0
    _print_table(rows, table.column_names, f"{len(rows)} row(s)")
    return 0


def _compact(args: argparse.Namespace) -> int:
    report = _open(args.dir).compact()
    payload = {
        "merged_file": report.merged_file,
        "parts": list(report.parts),
        "rows": report.rows,
        "finished_interrupted": report.finished_interrupted,
    }
    if report.merged_file is None:
        text = f"Nothing to compact: {len(report.parts)} file(s)."
    else:
        text = f"Merged {len(report.parts)} files ({report.rows} rows) into {report.merged_file}"
    emit(payload, as_json=args.json, text=text)
    return 0


def _repair(args: argparse.Namespace) -> int:
    report = _open(args.dir).repair(older_than_minutes=args.older_than)
    payload = {
        "quarantined": list(report.quarantined),
        "removed_leftovers": list(report.removed_leftovers),
        "finished_compactions": report.finished_compactions,
    }
    lines = [f"Quarantined {path}" for path in report.quarantined]
    lines += [f"Removed leftover {path}" for path in report.removed_leftovers]
    if report.finished_compactions:
        lines.append(f"Finished {report.finished_compactions} interrupted compaction(s)")
    emit(payload, as_json=args.json, text="\n".join(lines) or "Store is healthy; nothing to do.")
    return 0


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    """JSON has no NaN/inf, datetime or decimal: map them to null, ISO strings and numbers."""

    def fix(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, Decimal):  # SQL sums of integers are 128-bit (decimal in Arrow)
            return int(value) if value == value.to_integral_value() else float(value)
        if isinstance(value, list):
            return [fix(v) for v in value]
        return value

    return {key: fix(value) for key, value in row.items()}


def _cell(column: str, value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, list):
        return json.dumps(value)
    return str(value)


def _print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str], title: str) -> None:
    cells = [[_cell(c, row[c]) for c in columns] for row in rows]
    if stdout_is_tty():
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title)
        for column in columns:
            table.add_column(column, overflow="fold")
        for line in cells:
            table.add_row(*line)
        Console().print(table)
        return
    widths = [max([len(c)] + [len(line[i]) for line in cells]) for i, c in enumerate(columns)]
    print(title)
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip())
    for line in cells:
        print("  ".join(v.ljust(w) for v, w in zip(line, widths)).rstrip())

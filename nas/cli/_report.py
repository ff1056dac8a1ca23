"""``nas report SOURCE --out FILE.html``: a run's report as one self-contained HTML file."""

from __future__ import annotations

import argparse
from typing import Any

from nas.cli._common import add_json_flag, emit, int_at_least

__all__ = ["register"]


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "report",
        help="write a self-contained HTML report of a store or run directory",
        description="Write one HTML file (figures inlined, nothing fetched to view it): the "
        "summary, the best trials, the Pareto front (val_accuracy max, params min), the "
        "Pareto, training-curve and parallel-coordinates figures, and the best trial's "
        "reproducibility record.",
    )
    p.add_argument("source", metavar="STORE_OR_RUN_DIR", help="a result store or run directory")
    p.add_argument("--out", required=True, metavar="FILE.html", help="where to write it")
    p.add_argument(
        "--top", type=int_at_least(1), default=10, help="best trials listed (default 10)"
    )
    add_json_flag(p)
    p.set_defaults(handler=_report)


def _report(args: argparse.Namespace) -> int:
    from nas.report import write_report

    path = write_report(args.source, args.out, top=args.top)
    emit({"out": str(path)}, as_json=args.json, text=f"wrote {path}")
    return 0

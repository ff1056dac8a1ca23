"""``nas plot KIND SOURCE --out PNG``: the figures of ``nas.plot`` from the command line."""

from __future__ import annotations

import argparse
from typing import Any

from nas.cli._common import add_json_flag, emit, int_at_least

__all__ = ["register"]


def register(subparsers: Any) -> None:
    from nas.plot._kinds import KINDS

    p = subparsers.add_parser(
        "plot",
        help="draw a figure (regret, pareto, curves, parallel, pred-vs-true) as a PNG",
        description="Draw KIND from SOURCE into --out PNG. regret: a `nas benchmark search "
        "--json` file (mean regret, band = +/-1 standard error over seeds, linear axis). "
        "pareto: a store or run directory (every ok row, the front, its hypervolume). "
        "curves: the per-epoch curves of the best trials. parallel: decisions vs the metric. "
        'pred-vs-true: a JSON {"y_true": [...], "y_pred": [...]} of the evaluated model '
        "(Kendall tau and Spearman on the figure).",
    )
    p.add_argument("kind", choices=KINDS, help="the figure")
    p.add_argument("source", help="store directory, run directory, or JSON file")
    p.add_argument("--out", required=True, metavar="PNG", help="where to write the figure")
    p.add_argument("--x", default="params", help="pareto: x metric (default params, min)")
    p.add_argument("--y", default="val_accuracy", help="pareto: y metric (default val_accuracy)")
    p.add_argument("--x-direction", choices=("min", "max"), default="min")
    p.add_argument("--y-direction", choices=("min", "max"), default="max")
    p.add_argument("--metric", default="val_accuracy", help="curves/parallel metric")
    p.add_argument(
        "--top", type=int_at_least(1), default=8, help="curves: trials drawn (default 8)"
    )
    add_json_flag(p)
    p.set_defaults(handler=_plot)


def _plot(args: argparse.Namespace) -> int:
    from nas.plot import figure_from_source, save_png

    options: dict[str, Any] = {}
    if args.kind == "pareto":
        options = {"x": args.x, "y": args.y, "x_direction": args.x_direction,
                   "y_direction": args.y_direction}  # fmt: skip
    elif args.kind == "curves":
        options = {"metric": args.metric, "top": args.top}
    elif args.kind == "parallel":
        options = {"metric": args.metric}
    path = save_png(figure_from_source(args.kind, args.source, **options), args.out)
    emit({"kind": args.kind, "out": str(path)}, as_json=args.json, text=f"wrote {path}")
    return 0

"""Render the report: summary, best trials, Pareto front, figures, reproducibility record."""

from __future__ import annotations

import base64
import io
import json
import math
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

from nas.plot import PlotError, curves_figure, parallel_figure, pareto_figure
from nas.plot._source import load_rows

__all__ = ["render_report", "write_report"]

_COLUMNS = ("arch_id", "status", "val_accuracy", "test_accuracy", "params", "flops", "strategy")
_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
h1{font-size:1.5em}h2{font-size:1.15em;border-bottom:1px solid #ccc;padding-bottom:.2em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
td,th{border:1px solid #ddd;padding:.25em .6em;text-align:right}
th{background:#f3f3f3}td.id{font-family:monospace;text-align:left}
.best{font-size:1.1em;background:#eef6ee;padding:.6em;border-left:4px solid #3a3}
img{max-width:100%;border:1px solid #eee;margin:.4em 0}pre{background:#f7f7f7;padding:.6em;
overflow-x:auto;font-size:.8em}
"""


def write_report(
    source: str | os.PathLike[str], out: str | os.PathLike[str], *, top: int = 10
) -> Path:
    """Write the report of ``source`` (a store or a run directory) to ``out`` (.html)."""
    path = Path(out)
    if path.suffix.lower() not in (".html", ".htm"):
        raise PlotError(f"Expected an .html output path (got {str(out)!r}).")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(source, top=top), encoding="utf-8")
    return path


def render_report(source: str | os.PathLike[str], *, top: int = 10) -> str:
    """The report of ``source`` as one HTML document (PNG figures as data URIs)."""
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise PlotError(f"Expected an int >= 1 best trials to list (got top={top!r}).")
    rows = load_rows(source)
    if not rows:
        raise PlotError(f"{str(source)!r} holds no rows to report on.")
    ok = [r for r in rows if r.get("status") == "ok" and _finite(r.get("val_accuracy"))]
    best = sorted(ok, key=lambda r: -float(r["val_accuracy"]))
    parts = [f"<h1>nas report: {escape(str(source))}</h1>", _summary(rows, best)]
    parts += ["<h2>Best trials</h2>", _table(best[:top])]
    front = _front(ok)
    parts += [f"<h2>Pareto front (val_accuracy max, params min): {len(front)}</h2>", _table(front)]
    for title, draw in (
        ("Pareto front", lambda: pareto_figure(rows)),
        ("Training curves", lambda: curves_figure(rows)),
        ("Decisions vs val_accuracy", lambda: parallel_figure(rows)),
    ):
        try:
            parts.append(f"<h2>{title}</h2>{_image(draw(), title)}")
        except PlotError as exc:  # e.g. tabular rows have no curves: say so, draw nothing
            parts.append(f"<h2>{title}</h2><p>Not drawn: {escape(str(exc))}</p>")
    if best and best[0].get("record"):
        record = json.dumps(json.loads(best[0]["record"]), indent=1, sort_keys=True)
        parts += [
            "<h2>Reproducibility record of the best trial</h2>",
            f"<pre>{escape(record)}</pre>",
        ]
    body = "\n".join(parts)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>nas report</title><style>{_STYLE}</style></head><body>\n{body}\n</body></html>\n"
    )


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _summary(rows: Sequence[Mapping[str, Any]], best: Sequence[Mapping[str, Any]]) -> str:
    statuses = Counter(str(r.get("status")) for r in rows)
    runs = sorted({str(r.get("run_id")) for r in rows if r.get("run_id")})
    items = [
        ("rows", str(len(rows))),
        ("statuses", ", ".join(f"{k} {v}" for k, v in statuses.most_common())),
        ("runs", ", ".join(runs) or "-"),
        ("spaces", ", ".join(sorted({str(r.get("space")) for r in rows}))),
        ("datasets", ", ".join(sorted({str(r.get("dataset")) for r in rows}))),
        ("strategies", ", ".join(sorted({str(r.get("strategy")) for r in rows if r.get("strategy")})) or "-"),
    ]  # fmt: skip
    lines = "".join(f"<tr><th>{k}</th><td>{escape(v)}</td></tr>" for k, v in items)
    head = "<p>No ok trial yet.</p>"
    if best:
        b = best[0]
        head = (
            f'<p class="best">Best arch <code id="best-arch">{escape(str(b["arch_id"]))}</code>: '
            f"val_accuracy {float(b['val_accuracy']):.2f}"
            + (f", test_accuracy {float(b['test_accuracy']):.2f}" if _finite(b.get("test_accuracy")) else "")
            + f"</p><pre>{escape(str(b.get('arch')))}</pre>"
        )  # fmt: skip
    return f"{head}<table>{lines}</table>"


def _cell(column: str, value: Any) -> str:
    if value is None:
        return "<td>-</td>"
    if isinstance(value, float):
        return f"<td>{value:.2f}</td>"
    css = ' class="id"' if column == "arch_id" else ""
    return f"<td{css}>{escape(str(value))}</td>"


def _table(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return "<p>None.</p>"
    head = "".join(f"<th>{c}</th>" for c in _COLUMNS)
    body = "".join("<tr>" + "".join(_cell(c, r.get(c)) for c in _COLUMNS) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _front(ok: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    from nas._pareto import non_dominated

    kept = [r for r in ok if _finite(r.get("params"))]
    points = [[-float(r["val_accuracy"]), float(r["params"])] for r in kept]
    return sorted((kept[i] for i in non_dominated(points)), key=lambda r: float(r["params"]))


def _image(fig: Any, alt: str) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{data}">'

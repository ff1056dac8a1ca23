"""What every ``benchmarks/scale_*.py`` script shares: interleaved repeats, ratio-first lines,
and the results file with the command and machine.

Each figure is measured next to its baseline in the same process, the two interleaved so
that a change in the machine's load hits both alike; the ratio (ours / baseline, lower is
better unless said) is printed first, then the median and spread of the repeats.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    """The machine a figure was measured on, including how busy it was."""
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }


def seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def compare(
    ours: Callable[[], object], baseline: Callable[[], object], repeats: int
) -> dict[str, Any]:
    """Time ``ours`` and ``baseline`` ``repeats`` times each, interleaved."""
    a, b = [], []
    for _ in range(repeats):
        b.append(seconds(baseline))
        a.append(seconds(ours))
    ratios = [x / y for x, y in zip(a, b)]
    return {
        "ratio": statistics.median(a) / statistics.median(b),
        "ratio_spread": [min(ratios), max(ratios)],
        "ours_s": statistics.median(a),
        "ours_s_spread": [min(a), max(a)],
        "baseline_s": statistics.median(b),
        "baseline_s_spread": [min(b), max(b)],
        "repeats": repeats,
    }


def line(name: str, fig: dict[str, Any], unit: str = "s", per: float | None = None) -> str:
    """One ratio-first line; ``per`` turns the times into a rate (items per second)."""
    text = (
        f"{name:34s} ratio {fig['ratio']:6.3f} [{fig['ratio_spread'][0]:.3f}-"
        f"{fig['ratio_spread'][1]:.3f}]  ours {fig['ours_s']:.4f} {unit}  "
        f"baseline {fig['baseline_s']:.4f} {unit}"
    )
    if per is not None:
        text += f"  ({per / fig['ours_s']:,.0f}/s vs {per / fig['baseline_s']:,.0f}/s)"
    return text


def save(name: str, figures: dict[str, Any], note: str) -> Path:
    """Write ``benchmarks/results/NAME.json`` with the figures, command and machine."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    record = {
        "command": "python " + " ".join(["benchmarks/" + Path(sys.argv[0]).name, *sys.argv[1:]]),
        "machine": machine(),
        "note": note,
        "figures": figures,
    }
    path.write_text(json.dumps(record, indent=1) + "\n")
    return path

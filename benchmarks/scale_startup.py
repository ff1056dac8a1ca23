"""Start-up of ``nas --help`` and ``nas spaces`` vs ``python -c pass``: ratio first.

Each command runs ``--repeats`` times, interleaved with the baseline; the minimum is the
figure least disturbed by other work on the machine, the median is printed beside it. The
commands run with compiled bytecode, as an installed package has it (cached under a temp
``PYTHONPYCACHEPREFIX``, after one warm-up run, even where PYTHONDONTWRITEBYTECODE is set).

Run: python benchmarks/scale_startup.py [--repeats 15] [--save]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

from scale_common import save

COMMANDS = {
    "nas --help": [sys.executable, "-c", "from nas.cli import main; main(['--help'])"],
    "nas spaces": [sys.executable, "-c", "from nas.cli import main; main(['spaces'])"],
}
BASELINE = [sys.executable, "-c", "pass"]
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
ENV["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="nas-pyc-")


CPU: dict[str, list[float]] = {}


def wall(cmd: list[str]) -> float:
    """Wall seconds of one run; its CPU seconds (user + sys) go to ``CPU`` (a busy machine
    stretches the wall time, not the CPU time)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=ENV)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    CPU.setdefault(" ".join(cmd[-1:]), []).append(used)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--save", action="store_true")
    args = parser.parse_args()
    figures: dict[str, Any] = {}
    for label, cmd in COMMANDS.items():
        wall(cmd)  # compiles and caches the bytecode
        ours, base = [], []
        for _ in range(args.repeats):
            base.append(wall(BASELINE))
            ours.append(wall(cmd))
        fig = {
            "ratio_min": min(ours) / min(base),
            "ours_min_s": min(ours),
            "ours_median_s": statistics.median(ours),
            "baseline_min_s": min(base),
            "baseline_median_s": statistics.median(base),
            "repeats": args.repeats,
            "ours_cpu_min_s": min(CPU[cmd[-1]]),
            "baseline_cpu_min_s": min(CPU[BASELINE[-1]]),
        }
        figures[label] = fig
        print(
            f"{label:12s} ratio {fig['ratio_min']:.2f}  {fig['ours_min_s']:.3f} s "
            f"(median {fig['ours_median_s']:.3f}) vs python -c pass {fig['baseline_min_s']:.3f} s; "
            f"CPU {fig['ours_cpu_min_s']:.3f} s vs {fig['baseline_cpu_min_s']:.3f} s"
        )
    if args.save:
        print(save("scale_startup", figures, "minimum of interleaved runs; median beside it"))


if __name__ == "__main__":
    main()

"""Start-up of ``nas --help`` and ``nas spaces`` vs ``python -c pass``: ratio first.

``nas spaces`` is timed twice: reading its cached listing (the cache, in a temp
``NAS_CACHE_DIR``, is written by the warm-up run), and with no usable cache
(``NAS_CACHE_DIR`` under ``/dev/null``), which builds and counts every space as every listing
did before the cache. Each command runs ``--repeats`` times, interleaved with the baseline; the minimum is the
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

SPACES = [sys.executable, "-c", "from nas.cli import main; main(['spaces'])"]
COMMANDS = {
    "nas --help": [sys.executable, "-c", "from nas.cli import main; main(['--help'])"],
    "nas spaces": SPACES,
    "nas spaces (no cache)": SPACES,
}
NO_CACHE = {"nas spaces (no cache)": "/dev/null/nas"}  # mkdir and reads fail: never cached
BASELINE = [sys.executable, "-c", "pass"]
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
ENV["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="nas-pyc-")
ENV["NAS_CACHE_DIR"] = tempfile.mkdtemp(prefix="nas-cache-")


CPU: dict[str, list[float]] = {}


def wall(label: str, cmd: list[str]) -> float:
    """Wall seconds of one run; its CPU seconds (user + sys) go to ``CPU[label]`` (a busy
    machine stretches the wall time, not the CPU time)."""
    env = {**ENV, "NAS_CACHE_DIR": NO_CACHE[label]} if label in NO_CACHE else ENV
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    CPU.setdefault(label, []).append(used)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--save", action="store_true")
    args = parser.parse_args()
    figures: dict[str, Any] = {}
    for label, cmd in COMMANDS.items():
        wall(label, cmd)  # compiles and caches the bytecode (and the listing of spaces)
        ours, base = [], []
        for _ in range(args.repeats):
            base.append(wall("baseline", BASELINE))
            ours.append(wall(label, cmd))
        fig = {
            "ratio_min": min(ours) / min(base),
            "ours_min_s": min(ours),
            "ours_median_s": statistics.median(ours),
            "baseline_min_s": min(base),
            "baseline_median_s": statistics.median(base),
            "repeats": args.repeats,
            "ours_cpu_min_s": min(CPU[label]),
            "baseline_cpu_min_s": min(CPU["baseline"]),
        }
        figures[label] = fig
        print(
            f"{label:21s} ratio {fig['ratio_min']:.2f}  {fig['ours_min_s']:.3f} s "
            f"(median {fig['ours_median_s']:.3f}) vs python -c pass {fig['baseline_min_s']:.3f} s; "
            f"CPU {fig['ours_cpu_min_s']:.3f} s vs {fig['baseline_cpu_min_s']:.3f} s"
        )
    if args.save:
        print(save("scale_startup", figures, "minimum of interleaved runs; median beside it"))


if __name__ == "__main__":
    main()

"""Hardware-aware NAS on NB-201: an accuracy x latency Pareto search.

Search: ``nb201-cifar10`` with the ``help-nb201`` latency of one device (default Pixel 3,
HW-NAS-Bench's measurement), objectives ``val_accuracy:max`` and ``latency_<device>:min``;
random vs REA, 100 queries, 20 seeds; each front's hypervolume ratio to the table's true
front (``nas.hw.compare_pareto``; reference point: the true front's nadir).

The 10-sample latency predictor (HELP's protocol on NB-201 and FBNet, and HAT) is
``benchmarks/hw_latency.py``.

Usage: python benchmarks/hw_search.py [--seeds 20] [--queries 100] [--save]
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

from nas.hw import compare_pareto


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="pixel3")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--save", action="store_true", help="write the results JSON")
    args = parser.parse_args()
    search = compare_pareto(
        "nb201-cifar10",
        ["random", "rea"],
        latency_table="help-nb201",
        device=args.device,
        queries=args.queries,
        seeds=args.seeds,
        progress=False,
    ).to_dict()
    result = {
        "figure": "NB-201 CIFAR-10 accuracy x latency search",
        "command": f"python benchmarks/hw_search.py --device {args.device} --seeds {args.seeds} "
        f"--queries {args.queries}",
        "machine": f"{platform.machine()}, Python {platform.python_version()}, shared 2-core CPU",
        "search": search,
    }
    print(json.dumps(result, indent=1))
    if args.save:
        path = Path(__file__).parent / "results" / "hw_search.json"
        path.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()

"""The reference zoo table: eleven published models imported through from_torch and ONNX.

Each model (``tests/zoo/models.py``, written from the papers) is imported at 224 x 224, batch 1:
IR params vs the published count, IR MACs vs torch's FlopCounterMode / 2, the lowered module vs
the torch original and vs ONNX Runtime on the exported file (max abs difference), and a small
GENNAPE predictor's score (fitted on NAS-Bench-Macro graphs, target log params).

Usage:
    python benchmarks/zoo.py                       # every model; rewrites the table
    python benchmarks/zoo.py --models resnet18     # some models; other rows are kept
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.zoo.check import predictor_scorer, zoo_row  # noqa: E402
from tests.zoo.models import ZOO  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "zoo.json"


def _table(rows: list[dict]) -> list[str]:
    head = "model | params (published) | params (IR) | FLOPs IR vs torch | from_torch | ONNX | max diff"
    lines = [head, "|".join(["---"] * 7)]
    for r in rows:
        ok_t = r["params_ir"] == r["params_published"] and r["from_torch_max_diff"] <= 1e-5
        ok_o = r["params_ir_onnx"] == r["params_published"] and r["onnx_max_diff"] <= 1e-5
        flops = "equal" if r["flops_ir"] == r["flops_torch_half"] else "DIFFER"
        diff = max(r["from_torch_max_diff"], r["onnx_max_diff"])
        lines.append(
            f"{r['model']} | {r['params_published']:,} | {r['params_ir']:,} | "
            f"{r['flops_ir'] / 1e9:.3f} G MACs, {flops} | {'yes' if ok_t else 'NO'} | "
            f"{'yes' if ok_o else 'NO'} | {diff:.2g}"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", choices=list(ZOO), default=list(ZOO))
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    old = json.loads(args.out.read_text())["rows"] if args.out.exists() else []
    rows = {r["model"]: r for r in old if r["model"] not in args.models}
    score = predictor_scorer()
    for name in args.models:
        start = time.perf_counter()
        row = zoo_row(name, score=score)
        row["seconds"] = round(time.perf_counter() - start, 1)
        rows[name] = row
        print(json.dumps(row), flush=True)
    ordered = [rows[n] for n in ZOO if n in rows]
    report = {
        "figure": "reference zoo: published models imported with their weights",
        "command": "python benchmarks/zoo.py",
        "input": "batch 1, 3 x 224 x 224, random weights (torch.manual_seed(0)), eval mode",
        "onnx": "torch.onnx.export, TorchScript exporter, opset 17, dynamic batch, "
        "do_constant_folding=False (BatchNorm kept, so params can be compared)",
        "flops": "IR MACs; flops_torch_half = FlopCounterMode total / 2",
        "predictor": "GENNAPE (hidden 8, 1 layer) fitted on 12 NAS-Bench-Macro graphs, "
        "target log(params): a smoke figure that foreign graphs featurize and score",
        "machine": f"{platform.machine()}, 1 torch thread, shared 2-core CPU",
        "table": _table(ordered),
        "rows": ordered,
    }
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print("\n".join(report["table"]))


if __name__ == "__main__":
    main()

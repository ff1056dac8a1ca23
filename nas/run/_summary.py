"""The end of a search: a short summary of the best arch and its ONNX export."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from nas.space import Arch
from nas.store import Result, ResultStore

if TYPE_CHECKING:
    from nas.space import Space

__all__ = ["export_best_onnx", "summary_lines"]

_log = logging.getLogger("nas.run")


def _onnx_path(store: ResultStore, run_dir: Path, arch_id: str) -> Path:
    # Next to a local store (a sibling file, so the store directory stays Parquet only);
    # in the run directory when the store is remote (s3://, gs://, ...).
    import pyarrow.fs as pafs

    name = f"best-{arch_id}.onnx"
    if isinstance(store.filesystem, pafs.LocalFileSystem):
        directory = Path(store.path)
        return directory.parent / f"{directory.name}-{name}"
    return run_dir / name


def export_best_onnx(space: Space, best: Result, store: ResultStore, run_dir: Path) -> Path | None:
    """Export ``best``'s arch to ONNX next to the store; None (logged) when export fails."""
    from nas.graph import export_onnx

    path = _onnx_path(store, run_dir, best.arch_id)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return Path(export_onnx(space.compile(Arch.from_json(best.arch).values), path))
    except Exception as exc:  # the search's results are stored; an export failure is a note
        _log.warning("Could not export the best arch to ONNX (%s): %s", path, exc)
        return None


def summary_lines(best: Result | None, counts: dict[str, int], onnx: Path | None) -> list[str]:
    """Human-readable summary of a finished search."""
    finished = sum(counts.values())
    parts = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    lines = [f"Search finished: {finished} trials ({parts or 'none'})."]
    if best is None:
        lines.append("No trial finished ok: no best arch.")
        return lines
    test = "-" if best.test_accuracy is None else f"{best.test_accuracy:.2f}%"
    lines += [
        f"Best arch {best.arch_id}: val {best.val_accuracy:.2f}%, test {test}, "
        f"params {best.params:,}, FLOPs (MACs) {best.flops:,}",
        f"  arch: {best.arch}",
    ]
    if onnx is not None:
        lines.append(f"  ONNX: {onnx}")
    return lines


def write_summary(
    run_dir: Path,
    best: Result | None,
    counts: dict[str, int],
    onnx: Path | None,
    stream: IO[str] | None,
) -> dict[str, Any]:
    """Print the summary to ``stream`` (if any) and save it as ``run_dir/summary.json``."""
    if stream is not None:
        for line in summary_lines(best, counts, onnx):
            print(line, file=stream)
    summary = {
        "counts": counts,
        "best": None
        if best is None
        else {
            "arch_id": best.arch_id,
            "arch": Arch.from_json(best.arch).json_values(),
            "val_accuracy": best.val_accuracy,
            "test_accuracy": best.test_accuracy,
            "params": best.params,
            "flops": best.flops,
            "trial_id": best.trial_id,
        },
        "onnx": None if onnx is None else str(onnx),
    }
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary

"""The end of a search: ``run_dir/summary.json`` and the best trial's ONNX export
(through ``nas.train._export``, the one way a stored trial leaves as a network)."""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow.fs as pafs

from nas.space import Arch, Space
from nas.store import Result, ResultStore

if TYPE_CHECKING:
    from nas.search import SearchResult

__all__ = ["write_summary"]

_log = logging.getLogger("nas.run")

#: The best trial's fields in a run's summary (and its arch's values).
_BEST = ("arch_id", "val_accuracy", "test_accuracy", "params", "flops", "trial_id", "checkpoint")


def write_summary(
    space: Space, out: SearchResult, store: ResultStore | None, run_dir: Path, *, export_best: bool
) -> Path | None:
    """Save the summary of a run as ``run_dir/summary.json``; with ``export_best``, export the
    best trial's trained network to ONNX next to the store and return its path.

    The summary holds the status counts, the best trial and the ONNX file, and what the weights
    the run's rows still keep (a run deletes those out of its top-k) cost on disk (``weights``:
    trials and bytes, local or at a URI). No ONNX file (logged) for a best trial that kept no
    weights (a tabular or custom evaluation: freshly initialized weights are not the winner),
    or when the export fails. The file is a sibling of a local store (which stays Parquet
    only), or in the run directory for a remote one (``s3://``...).
    """
    from nas.train._checkpoint import checkpoint_bytes

    best, onnx = out.best, None
    if export_best and best is not None and store is not None:
        onnx = _export_best(space, best, store, run_dir)
    sizes = [checkpoint_bytes(r.checkpoint) for r in out.results if r.checkpoint]
    kept = [n for n in sizes if n is not None]
    top: dict[str, Any] | None = None
    if best is not None:
        top = {k: getattr(best, k) for k in _BEST}
        top["arch"] = Arch.from_json(best.arch).json_values()
    summary = {
        "counts": dict(Counter(r.status for r in out.results)),
        "best": top,
        "onnx": None if onnx is None else str(onnx),
        "weights": {"trials": len(kept), "bytes": sum(kept)},
    }
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    return onnx


def _export_best(space: Space, best: Result, store: ResultStore, run_dir: Path) -> Path | None:
    from nas.train._export import export_result_onnx

    if not best.checkpoint:
        _log.info("The best trial %s kept no trained weights: no ONNX export.", best.trial_id)
        return None
    path = run_dir / f"best-{best.arch_id}.onnx"
    if isinstance(store.filesystem, pafs.LocalFileSystem):
        store_dir = Path(store.path)
        path = store_dir.parent / f"{store_dir.name}-{path.name}"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return export_result_onnx(space, best, path)
    except Exception as exc:  # the search's results are stored; an export failure is a note
        _log.warning("Could not export the best trial to ONNX (%s): %s", path, exc)
        return None

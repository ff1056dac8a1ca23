"""Read what a figure is drawn from: a result store, a run directory, or a JSON file."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from nas.plot._figures import (
    KINDS,
    PlotError,
    curves_figure,
    parallel_figure,
    pareto_figure,
    pred_vs_true_figure,
    regret_figure,
)

__all__ = ["figure_from_source", "load_rows"]


def load_rows(source: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The rows of a result store, or of one run when ``source`` is its run directory
    (a folder with ``search_state.json``: the rows of its run id, in the store it saved)."""
    from nas.store import ResultStore

    path = Path(source)
    if (path / "search_state.json").is_file():
        import pyarrow.compute as pc

        from nas.search._run import saved_settings

        store = saved_settings(path).get("store") or _store_above(path)
        if store is None:
            raise PlotError(
                f"Run directory {str(path)!r} saved no store; pass the store directory instead."
            )
        table = ResultStore(store).read(pc.field("run_id") == path.name)
    else:
        store = ResultStore(str(source))
        if not store.is_present():
            raise PlotError(
                f"No result store or run directory at {str(source)!r}; pass a store directory, "
                f"a run directory or a JSON file."
            )
        table = store.read()
    return table.to_pylist()


def _store_above(run_dir: Path) -> str | None:
    """STORE for a run directory at the CLI's default place: STORE.runs/RUN_ID, or
    STORE/_runs/RUN_ID (where earlier versions put it)."""
    parent = run_dir.resolve().parent
    if parent.name == "_runs":
        store = parent.parent
    elif parent.name.endswith(".runs") and len(parent.name) > len(".runs"):
        store = parent.with_name(parent.name.removesuffix(".runs"))
    else:
        return None
    return str(store) if any(store.glob("*.parquet")) else None


def figure_from_source(kind: str, source: str | os.PathLike[str], **options: Any) -> Any:
    """The ``kind`` figure of ``source`` (see ``nas plot --help`` for what each takes)."""
    if kind not in KINDS:
        raise PlotError(f"Unknown figure {kind!r}; use one of {', '.join(KINDS)}.")
    path = Path(source)
    if path.suffix.lower() == ".json":
        if not path.is_file():
            raise PlotError(f"No JSON file at {str(path)!r}.")
        data = json.loads(path.read_text())
        if kind == "regret":
            return regret_figure(data)
        if kind == "pred-vs-true":
            if not {"y_true", "y_pred"} <= set(data):
                raise PlotError(
                    f"{str(path)!r} has no y_true/y_pred lists; write the evaluated model's "
                    f'test predictions as {{"y_true": [...], "y_pred": [...]}}.'
                )
            return pred_vs_true_figure(
                data["y_true"], data["y_pred"], target=data.get("target", "test_accuracy"),
                title=data.get("title", ""),
            )  # fmt: skip
        raise PlotError(f"A {kind} figure is drawn from a store or run directory, not JSON.")
    if kind in ("regret", "pred-vs-true"):
        raise PlotError(
            f"A {kind} figure is drawn from a JSON file (`nas benchmark search --json` for "
            f"regret; y_true/y_pred lists for pred-vs-true), not {str(source)!r}."
        )
    rows = load_rows(source)
    if kind == "pareto":
        return pareto_figure(rows, **options)
    if kind == "curves":
        return curves_figure(rows, **options)
    return parallel_figure(rows, **options)

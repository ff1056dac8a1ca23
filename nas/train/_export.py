"""How a stored trial leaves as a network: its best epoch's weights in an ONNX file.

:func:`export_result_onnx` is the one way (the search summary, ``nas train --onnx`` and
``nas export --from-store`` call it): the file's ``metadata_props`` say what it is
(:func:`onnx_metadata`); :func:`onnx_accuracy` checks it in ONNX Runtime, and
:func:`stored_trial` finds the row to export.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nas.errors import StoreError

if TYPE_CHECKING:
    from nas.space import Space
    from nas.store import Result, ResultStore

__all__ = ["export_result_onnx", "onnx_accuracy", "onnx_metadata", "stored_trial"]

#: The row's fields an exported file carries as they are, and its metrics (those of the epoch
#: whose weights it holds), which it carries as one JSON value.
_FIELDS = ("space", "space_version", "arch", "arch_id", "graph_hash", "dataset", "recipe", "seed")
_IDS = ("run_id", "trial_id", "engine_version")
_METRICS = ("val_accuracy", "test_accuracy", "val_loss", "fidelity", "params", "flops")


def onnx_metadata(result: Result) -> dict[str, str]:
    """The ONNX ``metadata_props`` of an exported trial: what it is, where it came from, how good.

    Keys: ``space``, ``space_version``, ``arch`` (the arch JSON), ``arch_id``, ``graph_hash``,
    ``dataset``, ``recipe`` (JSON), ``seed``, ``metrics`` (JSON: val/test accuracy in percent,
    val loss, epochs trained, best epoch, params, FLOPs), ``weights`` (which epoch's),
    ``run_id``, ``trial_id``, ``engine_version``; a key whose value is unknown is left out.
    """
    best = (result.extra_dict() or {}).get("best_epoch")
    metrics = {k: getattr(result, k) for k in _METRICS} | {"best_epoch": best}
    fields: dict[str, Any] = {k: getattr(result, k) for k in (*_FIELDS, *_IDS)}
    fields["metrics"] = json.dumps({k: v for k, v in metrics.items() if v is not None})
    fields["weights"] = (
        "trained" if best is None else f"trained (best epoch {best}, by validation accuracy)"
    )
    return {k: str(v) for k, v in fields.items() if v is not None}


def export_result_onnx(space: Space, result: Result, path: str | os.PathLike[str]) -> Path:
    """Export ``result``'s trained network (its best epoch's weights) to ONNX with metadata.

    Raises:
        CheckpointError: the row has no checkpoint, or its weights are gone or do not fit the
            arch.

    Example:
        >>> export_result_onnx(space, store.results()[0], "best.onnx")  # doctest: +SKIP
    """
    from nas.graph import export_onnx, to_torch
    from nas.space import Arch
    from nas.train import CheckpointError, load_checkpoint

    location = result.checkpoint
    if not location:
        raise CheckpointError(
            f"Trial {result.trial_id!r} (arch {result.arch_id}) kept no trained weights (status "
            f"{result.status!r}); export an ok trial of a training run, or `nas export SPACE "
            f"--arch ...` for an untrained network."
        )
    checkpoint = load_checkpoint(location)
    graph = space.compile(Arch.from_json(result.arch).values)
    module = to_torch(graph)
    try:
        module.load_state_dict(checkpoint.state)
    except RuntimeError as err:
        raise CheckpointError(
            f"The weights at {location!r} do not fit arch {result.arch_id} of space "
            f"{space.name!r} ({' '.join(str(err).split())[:200]}); was the space changed?"
        ) from None
    shape = graph.shape(graph.inputs[0])
    return Path(export_onnx(module, path, input_shape=shape, metadata=onnx_metadata(result)))


def stored_trial(
    store: ResultStore, *, trial_id: str | None = None, run_id: str | None = None
) -> Result:
    """One stored row: trial ``trial_id`` (of ``run_id`` if given), or with no ``trial_id`` the
    best ok trial by validation accuracy that kept its weights (of ``run_id`` if given).

    Raises:
        StoreError: no such row, or ``trial_id`` names rows of several runs (pass ``run_id``).
    """
    import pyarrow.compute as pc

    where = f"store {store.path!r}" + (f", run {run_id!r}" if run_id else "")
    if not store.is_present():
        raise StoreError(f"No results in {where}; pass the store a search or `nas train` wrote.")
    run = None if run_id is None else pc.field("run_id") == run_id
    if trial_id is None:
        kept = pc.field("checkpoint").is_valid()
        best = store.best("val_accuracy", filter=kept if run is None else kept & run)
        if best is None:
            raise StoreError(
                f"No ok trial with trained weights in {where}; tabular and custom evaluations "
                f"keep none."
            )
        return best
    match = pc.field("trial_id") == trial_id
    rows = store.results(match if run is None else match & run)
    if not rows:
        raise StoreError(f"No trial {trial_id!r} in {where}; list them with `nas store query`.")
    runs = sorted({str(r.run_id) for r in rows})
    if len(runs) > 1:
        raise StoreError(
            f"Trial {trial_id!r} is in {len(runs)} runs of {where} ({', '.join(runs)}); "
            f"pass --run-id."
        )
    return rows[-1]


def onnx_accuracy(
    path: str | os.PathLike[str], dataset: str, split: str = "test", **dataset_kwargs: Any
) -> float:
    """Accuracy (percent) of the ONNX model at ``path`` on a split of ``dataset``, in ONNX Runtime.

    The check that an exported file is the trained network: it should match the trial's
    stored ``test_accuracy`` (up to float rounding on a few borderline samples).
    """
    import numpy as np
    import onnxruntime as ort

    from nas.data import get_dataset

    data = getattr(get_dataset(dataset, **dataset_kwargs), split)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    correct = 0
    for start in range(0, len(data.y), 1024):
        x = np.ascontiguousarray(data.x[start : start + 1024], dtype=np.float32)
        logits = session.run(None, {name: x})[0]  # (batch, num_classes)
        correct += int((logits.argmax(axis=1) == data.y[start : start + 1024]).sum())
    return 100.0 * correct / max(1, len(data.y))

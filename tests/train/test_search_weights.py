"""A search keeps its top-k trials' trained weights, and its summary exports the winner trained."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import onnx
import pytest

from nas.cli import main
from nas.run import TrainingEvaluator
from nas.search import RayOptions, run
from nas.space import get_space
from nas.store import ResultStore
from nas.train import CheckpointError, load_checkpoint
from nas.train._export import onnx_accuracy


class UnsharedStorage(TrainingEvaluator):
    """A fault on purpose: this node cannot see the run's checkpoint storage (as a worker
    node of a cluster whose run directory is local to the head): Ray's storage marker is
    removed before training."""

    def evaluate(self, arch, *, seed, trial_id=None, on_epoch=None, checkpoint_dir=None):
        for marker in Path(self.run_dir).rglob(".validate_storage_marker"):
            marker.unlink()
        return super().evaluate(
            arch, seed=seed, trial_id=trial_id, on_epoch=on_epoch, checkpoint_dir=checkpoint_dir
        )


def _search(
    tmp_path: Path,
    executor: str,
    budget: int,
    keep: int,
    evaluator_type: type = TrainingEvaluator,
    storage: str | None = None,
) -> tuple:
    space = get_space("mlp")
    evaluator = evaluator_type(
        space, "mnist1d", device="cpu", threads=1, recipe_overrides={"epochs": 1}
    )
    evaluator.run_dir = str(tmp_path / "run")  # read by UnsharedStorage only
    store = ResultStore(tmp_path / "store")
    out = run(
        space, "random", evaluator, executor=executor, budget=budget, store=store,
        run_dir=tmp_path / "run", export_best=True, keep_checkpoints=keep, progress=False,
        ray=RayOptions(max_concurrent=2, storage=storage) if executor == "ray" else None,
    )  # fmt: skip
    return out, store.results()


def _check_export(out, rows) -> None:
    best = out.best
    assert best is not None and out.onnx is not None and Path(out.onnx).is_file()
    assert best.test_accuracy > 30  # trained: chance is 10%
    assert onnx_accuracy(out.onnx, "mnist1d") == pytest.approx(best.test_accuracy, abs=0.1)
    meta = {p.key: p.value for p in onnx.load(str(out.onnx)).metadata_props}
    assert meta["run_id"] == out.run_id and meta["trial_id"] == best.trial_id
    assert meta["arch_id"] == best.arch_id and meta["space"] == "mlp"
    assert json.loads(meta["metrics"])["test_accuracy"] == best.test_accuracy


def _kept(rows) -> list:
    kept = []
    for row in rows:
        try:
            load_checkpoint(row.checkpoint)
        except CheckpointError:  # deleted: fell out of the top k
            continue
        kept.append(row)
    return kept


@pytest.mark.slow
def test_in_process_search_keeps_the_top_k_and_exports_the_trained_best(tmp_path) -> None:
    out, rows = _search(tmp_path, "inprocess", budget=3, keep=2)
    trained = [r for r in rows if r.status == "ok"]
    assert len(trained) == 3 and all(r.checkpoint for r in trained)
    assert all(Path(r.checkpoint).parent == tmp_path / "run" / "weights" for r in trained)
    kept = _kept(trained)
    ranked = sorted(trained, key=lambda r: -r.val_accuracy)
    assert len(kept) == 2 and {r.trial_id for r in kept} == {r.trial_id for r in ranked[:2]}
    assert not Path(ranked[2].checkpoint).exists()  # fell out of the top 2: deleted
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    sizes = [(Path(r.checkpoint) / "weights.pt").stat().st_size for r in kept]
    assert summary["weights"] == {"trials": 2, "bytes": sum(sizes)}
    assert summary["best"]["checkpoint"] == out.best.checkpoint
    _check_export(out, rows)


@pytest.mark.slow
@pytest.mark.ray
def test_ray_trials_ship_their_weights_through_tune_checkpoints(tmp_path, capsys) -> None:
    # A storage outside the run directory, as a cluster's shared mount would be.
    shared = tmp_path / "shared"
    out, rows = _search(tmp_path, "ray", budget=2, keep=2, storage=str(shared))
    trained = [r for r in rows if r.status == "ok"]
    assert len(trained) == 2
    for row in trained:
        # In Ray's checkpoint storage, not a worker's temporary directory.
        assert Path(row.checkpoint).is_relative_to(shared)
        assert load_checkpoint(row.checkpoint).meta["epoch"] == 1
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["weights"]["trials"] == 2 and summary["weights"]["bytes"] > 0
    _check_export(out, rows)
    # A Ray trial is seeded and threaded as `nas train` is: it reproduces here, exactly.
    row = trained[0]
    code = main(["train", "--from-store", str(tmp_path / "store"), "--trial", str(row.trial_id),
                 "--json"])  # fmt: skip
    again = json.loads(capsys.readouterr().out)
    assert code == 0 and again["reproduces"]["identical"], again["reproduces"]
    assert again["val_accuracy_curve"] == list(row.val_accuracy_curve)


@pytest.mark.slow
@pytest.mark.ray
def test_a_ray_trial_that_cannot_reach_the_storage_trains_on_and_says_why(tmp_path) -> None:
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        out, rows = _search(tmp_path, "ray", budget=1, keep=2, evaluator_type=UnsharedStorage)
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    (row,) = rows
    assert row.status == "ok" and row.checkpoint is None and row.test_accuracy > 30
    assert "storage" in json.loads(row.extra)["weights_not_kept"]
    assert out.onnx is None  # no trained weights: no ONNX of freshly initialized ones

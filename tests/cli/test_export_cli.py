"""`nas export --from-store`: a stored trial leaves as its trained network, with metadata."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import onnx
import pytest

from nas.cli import main
from nas.run import TrainingEvaluator
from nas.space import get_space
from nas.store import ResultStore
from nas.train._export import onnx_accuracy


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> ResultStore:
    """Two trained mlp trials of one run (1 and 2 epochs) in a store, weights kept."""
    tmp = tmp_path_factory.mktemp("export")
    space = get_space("mlp")
    arch = space.sample(np.random.default_rng(0))
    results = []
    for epochs in (1, 2):
        evaluator = TrainingEvaluator(
            space, "mnist1d", device="cpu", threads=1, recipe_overrides={"epochs": epochs}
        )
        trial = f"t{epochs}"
        result = evaluator.evaluate(arch, seed=0, trial_id=trial, checkpoint_dir=tmp / trial)
        results.append(dataclasses.replace(result, run_id="r1", candidate_id=trial))
    out = ResultStore(tmp / "store")
    out.append(results)
    return out


def _export(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict]:
    code = main(["export", *argv, "--json"])
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if code == 0 else {"err": captured.err}


def test_best_exports_the_best_trials_trained_weights(store, tmp_path, capsys) -> None:
    best = max(store.results(), key=lambda r: r.val_accuracy)
    path = tmp_path / "best.onnx"
    code, info = _export(capsys, "--from-store", store.path, "--best", "--onnx", str(path))
    assert code == 0 and info["trial_id"] == best.trial_id
    assert onnx_accuracy(path, "mnist1d") == pytest.approx(best.test_accuracy, abs=0.1)
    assert info["onnxruntime_test_accuracy"] == pytest.approx(best.test_accuracy, abs=0.1)
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert meta["trial_id"] == best.trial_id and meta["run_id"] == "r1"
    assert meta["arch_id"] == best.arch_id and meta["graph_hash"] == best.graph_hash
    assert meta["weights"].startswith("trained (best epoch")


def test_a_named_trial_of_a_run(store, tmp_path, capsys) -> None:
    path = tmp_path / "t1.onnx"
    code, info = _export(
        capsys, "--from-store", store.path, "--trial", "t1", "--run-id", "r1", "--onnx", str(path)
    )
    (t1,) = [r for r in store.results() if r.trial_id == "t1"]
    assert code == 0 and info["trial_id"] == "t1" and info["recipe"]["epochs"] == 1
    assert onnx_accuracy(path, "mnist1d") == pytest.approx(t1.test_accuracy, abs=0.1)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--from-store", "S"], "needs --best or --trial"),
        (["mlp", "--from-store", "S", "--best"], "drop SPACE and --arch"),
        (["--best"], "need --from-store"),
        (["--from-store", "S", "--best", "--run-id", "nope"], "No ok trial with trained weights"),
    ],
)
def test_bad_requests_are_one_line(store, tmp_path, capsys, argv, message) -> None:
    argv = [store.path if a == "S" else a for a in argv]
    code, info = _export(capsys, *argv, "--onnx", str(tmp_path / "x.onnx"))
    lines = info["err"].strip().splitlines()
    assert code == 2 and len(lines) == 1 and message in lines[0], lines


def test_weights_that_are_gone_are_one_line(store, tmp_path, capsys) -> None:
    (t1,) = [r for r in store.results() if r.trial_id == "t1"]
    gone = tmp_path / "gone"
    shutil.copytree(t1.checkpoint, gone)
    other = ResultStore(tmp_path / "store")
    other.append([dataclasses.replace(t1, checkpoint=str(gone))])
    shutil.rmtree(gone)  # e.g. fell out of its run's top-k
    code, info = _export(capsys, "--from-store", other.path, "--trial", "t1", "--onnx",
                         str(tmp_path / "x.onnx"))  # fmt: skip
    lines = info["err"].strip().splitlines()
    assert code == 2 and len(lines) == 1 and "No readable checkpoint" in lines[0]


def test_an_untrained_export_says_so_in_its_metadata(tmp_path, capsys) -> None:
    arch = get_space("mlp").sample(np.random.default_rng(1))
    path = tmp_path / "fresh.onnx"
    code = main(["export", "mlp", "--arch", arch.to_json(), "--onnx", str(path), "--json"])
    info = json.loads(capsys.readouterr().out)
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert code == 0 and meta["weights"].startswith("untrained")
    assert meta["arch_id"] == arch.arch_id == info["arch_id"]
    assert meta["graph_hash"] == info["graph_hash"] and meta["space"] == "mlp"

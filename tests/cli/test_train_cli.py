"""`nas train`: the exported ONNX file is the trained network, and a stored trial reproduces."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from nas.cli import main
from nas.space import get_space
from nas.store import ResultStore
from nas.train import load_checkpoint
from nas.train._export import onnx_accuracy


def _arch_file(tmp_path: Path, space: str = "cnn1d", seed: int = 0) -> str:
    arch = get_space(space).sample(np.random.default_rng(seed))
    path = tmp_path / "arch.json"
    path.write_text(arch.to_json())
    return f"@{path}"


def _train(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict]:
    code = main(["train", *argv, "--json"])
    return code, json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One 2-epoch cnn1d run on mnist1d, exported and stored (shared by the tests below)."""
    tmp = tmp_path_factory.mktemp("train")
    out = io.StringIO()  # capsys is function-scoped
    onnx_path, store = tmp / "trained.onnx", tmp / "store"
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = main(
            ["train", "cnn1d", "--arch", _arch_file(tmp), "--dataset", "mnist1d", "--epochs", "2",
             "--device", "cpu", "--threads", "1", "--onnx", str(onnx_path), "--store", str(store),
             "--json"]
        )  # fmt: skip
    return {"code": code, "row": json.loads(out.getvalue()), "onnx": onnx_path, "store": store}


def test_the_onnx_file_scores_the_reported_test_accuracy(trained: dict) -> None:
    row = trained["row"]
    assert trained["code"] == 0 and row["status"] == "ok" and row["fidelity"] == 2
    # The trained weights: a fresh network would score about 10% (chance).
    assert row["test_accuracy"] > 40
    ort_accuracy = onnx_accuracy(trained["onnx"], "mnist1d")
    assert ort_accuracy == pytest.approx(row["test_accuracy"], abs=0.1)


def test_the_reported_metrics_are_the_best_epochs(trained: dict) -> None:
    row = trained["row"]
    best = int(np.argmax(row["val_accuracy_curve"]))
    assert json.loads(row["extra"])["best_epoch"] == best + 1
    assert row["val_accuracy"] == row["val_accuracy_curve"][best]
    assert row["test_accuracy"] == row["test_accuracy_curve"][best]


def test_the_onnx_file_carries_its_metadata(trained: dict) -> None:
    meta = {p.key: p.value for p in onnx.load(str(trained["onnx"])).metadata_props}
    row = trained["row"]
    for key in ("space", "arch_id", "graph_hash", "dataset", "trial_id", "engine_version"):
        assert meta[key] == str(row[key]), key
    assert json.loads(meta["arch"]) == json.loads(row["arch"])
    metrics = json.loads(meta["metrics"])
    assert metrics["test_accuracy"] == row["test_accuracy"] and metrics["fidelity"] == 2
    assert json.loads(meta["recipe"])["epochs"] == 2


def test_the_stored_row_points_at_the_kept_weights(trained: dict) -> None:
    (result,) = ResultStore(trained["store"]).results()
    assert result.trial_id == trained["row"]["trial_id"]
    ckpt = load_checkpoint(result.checkpoint)
    assert ckpt.meta["epoch"] == json.loads(trained["row"]["extra"])["best_epoch"]
    assert Path(result.checkpoint).parent.name == "store-checkpoints"


@pytest.mark.slow
def test_a_stored_trial_reproduces_exactly(trained: dict, capsys) -> None:
    row = trained["row"]
    code, again = _train(capsys, "--from-store", str(trained["store"]), "--trial", row["trial_id"])
    assert code == 0 and again["reproduces"]["identical"], again["reproduces"]
    for name in ("train_loss_curve", "val_accuracy_curve", "test_accuracy_curve"):
        assert again[name] == row[name]
    assert (again["val_accuracy"], again["test_accuracy"]) == (
        row["val_accuracy"],
        row["test_accuracy"],
    )
    assert again["seed"] == row["seed"] and again["recipe"] == row["recipe"]


def test_reproducing_takes_no_arch_of_its_own(trained: dict, capsys) -> None:
    code = main(["train", "cnn1d", "--from-store", str(trained["store"]), "--trial", "x"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "drop SPACE" in err[0]
    code = main(["train", "--from-store", str(trained["store"]), "--trial", "nope"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "No trial 'nope'" in err[0]


@pytest.mark.parametrize("where", ["missing-dir/m.onnx", "."])
def test_an_unwritable_onnx_path_is_one_line_before_training(tmp_path, capsys, where) -> None:
    path = str(tmp_path / where)
    code = main(["train", "mlp", "--arch", _arch_file(tmp_path, "mlp"), "--dataset", "mnist1d",
                 "--onnx", path])  # fmt: skip
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("nas: error: --onnx")
    assert "epoch" not in captured.err and captured.out == ""  # nothing was trained


def test_a_trial_stopped_early_is_compared_over_its_own_epochs() -> None:
    from types import SimpleNamespace

    from nas.cli._train import compare_curves

    def row(val: list[float]) -> SimpleNamespace:
        return SimpleNamespace(trial_id="t", val_accuracy_curve=val, train_loss_curve=val,
                               test_accuracy_curve=val)  # fmt: skip

    assert compare_curves(row([1.0, 2.0]), row([1.0, 2.0, 3.0]))["identical"]
    differs = compare_curves(row([1.0, 2.5]), row([1.0, 2.0, 3.0]))
    assert not differs["identical"] and differs["max_abs_diff"] == 0.5
    assert compare_curves(row([1.0, 2.0]), row([1.0]))["max_abs_diff"] == float("inf")


def test_a_trial_on_a_configured_dataset_reproduces_with_its_loader_arguments(
    tmp_path, capsys
) -> None:
    from nas.run import TrainingEvaluator

    space = get_space("mlp")
    synth = {"num_classes": 10, "length": 40, "num_train": 400, "num_test": 100}
    evaluator = TrainingEvaluator(space, "synthetic", device="cpu", threads=1,
                                  recipe_overrides={"epochs": 2}, dataset_kwargs=synth)  # fmt: skip
    row = evaluator.evaluate(space.sample(np.random.default_rng(2)), seed=4, trial_id="s1")
    assert json.loads(row.extra)["dataset_kwargs"] == synth
    ResultStore(tmp_path / "store").append([row])
    code, again = _train(capsys, "--from-store", str(tmp_path / "store"), "--trial", "s1")
    assert code == 0 and again["reproduces"]["identical"], again["reproduces"]
    assert again["val_accuracy_curve"] == list(row.val_accuracy_curve) and again["seed"] == 4

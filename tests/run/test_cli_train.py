"""`nas train` through the CLI entry point, on real mnist1d."""

from __future__ import annotations

import json

import numpy as np

from nas.cli import main
from nas.space import get_space
from nas.store import ResultStore


def test_nas_train_prints_metrics_exports_onnx_and_stores(tmp_path, capsys) -> None:
    space = get_space("mlp")
    arch = space.sample(np.random.default_rng(0))
    (tmp_path / "arch.json").write_text(arch.to_json())
    onnx, store = tmp_path / "m.onnx", tmp_path / "store"
    code = main(
        ["train", "mlp", "--arch", f"@{tmp_path / 'arch.json'}", "--dataset", "mnist1d",
         "--epochs", "1", "--device", "cpu", "--onnx", str(onnx), "--store", str(store), "--json"]
    )  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["status"] == "ok" and out["fidelity"] == 1
    assert out["arch_id"] == arch.arch_id and 0 < out["val_accuracy"] <= 100
    assert out["params"] == space.compile(arch).params and len(out["val_accuracy_curve"]) == 1
    assert onnx.is_file() and out["onnx"] == str(onnx)
    assert [r.arch_id for r in ResultStore(store).results()] == [arch.arch_id]


def test_nas_train_rejects_a_bad_arch_in_one_line(capsys) -> None:
    code = main(["train", "mlp", "--arch", '{"layers.depth": 99}', "--dataset", "mnist1d"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "layers.depth" in err[0]

"""The best epoch's weights: kept on disk by the trainer, read back by anyone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from nas.data import Dataset
from nas.train import (
    CheckpointError,
    CheckpointKeeper,
    EpochMetrics,
    cpu_state,
    delete_checkpoint,
    load_checkpoint,
    save_checkpoint,
    train,
)


def mlp() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 4))


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        return 100.0 * (model(x).argmax(1) == y).sum().item() / len(y)


def test_the_checkpoint_holds_the_best_epoch_not_the_last(synthetic: Dataset, tmp_path) -> None:
    model = mlp()
    broken = {"eval": False}

    def scramble(module: nn.Module, inputs: object, output: torch.Tensor) -> torch.Tensor | None:
        # From epoch 3 on, evaluation sees constant logits: its accuracy drops to one class's
        # share, so epoch 2 stays the best while training goes on.
        return torch.zeros_like(output) if broken["eval"] and not module.training else None

    model.register_forward_hook(scramble)

    def report(m: EpochMetrics) -> None:
        broken["eval"] = m.epoch >= 2

    ckpt_dir = tmp_path / "ckpt"
    recipe = {"epochs": 4, "lr": 0.005, "batch_size": 32}
    result = train(model, synthetic, recipe, seed=0, device="cpu", report=report,
                   checkpoint_dir=ckpt_dir)  # fmt: skip
    vals = [m.val_accuracy for m in result.history]
    assert result.best_epoch == 2 and vals[1] == max(vals) and vals[3] < vals[1]
    assert result.best_val_accuracy == vals[1]
    assert result.best_test_accuracy == result.history[1].test_accuracy
    assert result.checkpoint == str(ckpt_dir)

    ckpt = load_checkpoint(ckpt_dir)
    assert ckpt.meta["epoch"] == 2 and ckpt.meta["val_accuracy"] == vals[1]
    fresh = mlp()
    fresh.load_state_dict(ckpt.state)
    x, y = torch.from_numpy(synthetic.val.x), torch.from_numpy(synthetic.val.y)
    assert accuracy(fresh, x, y) == pytest.approx(vals[1], abs=1e-9)
    # The trained module itself has moved on from the saved weights.
    assert not torch.equal(model[1].weight.detach(), ckpt.state["1.weight"])


def test_no_checkpoint_dir_writes_nothing(synthetic: Dataset, tmp_path) -> None:
    result = train(mlp, synthetic, {"epochs": 1}, seed=0, device="cpu")
    assert result.checkpoint is None and result.threads == torch.get_num_threads()


def test_a_checkpoint_is_saved_before_the_epoch_is_reported(synthetic: Dataset, tmp_path) -> None:
    seen: list[int] = []

    def report(m: EpochMetrics) -> None:
        seen.append(load_checkpoint(tmp_path).meta["epoch"])

    result = train(mlp, synthetic, {"epochs": 2, "lr": 0.05}, seed=0, device="cpu",
                   report=report, checkpoint_dir=tmp_path)  # fmt: skip
    assert seen == [1, result.best_epoch]  # after epoch 2: the better of the two


def test_missing_or_foreign_checkpoints_are_one_line_errors(tmp_path) -> None:
    with pytest.raises(CheckpointError, match="No readable checkpoint") as info:
        load_checkpoint(tmp_path / "gone")
    assert "\n" not in str(info.value)
    save_checkpoint(tmp_path / "c", cpu_state(nn.Linear(2, 2)), {"epoch": 1})
    meta = tmp_path / "c" / "checkpoint.json"
    meta.write_text(json.dumps({"format": "other/9"}))
    with pytest.raises(CheckpointError, match="not a nas-checkpoint/1"):
        load_checkpoint(tmp_path / "c")
    delete_checkpoint(tmp_path / "c")
    assert not (tmp_path / "c").exists()
    delete_checkpoint(tmp_path / "c")  # already gone: fine


def test_damaged_weights_and_unwritable_places_are_one_line_errors(tmp_path) -> None:
    save_checkpoint(tmp_path / "c", cpu_state(nn.Linear(2, 2)), {"epoch": 1})
    weights = tmp_path / "c" / "weights.pt"
    weights.write_bytes(weights.read_bytes()[:100])  # truncated
    with pytest.raises(CheckpointError, match=r"weights at .* are unreadable") as info:
        load_checkpoint(tmp_path / "c")
    assert "\n" not in str(info.value)
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(CheckpointError, match=r"Cannot write a checkpoint into .*writable"):
        save_checkpoint(tmp_path / "file", cpu_state(nn.Linear(2, 2)), {})
    with pytest.raises(CheckpointError, match=r"local directory \(got 's3://b/k'\)"):
        save_checkpoint("s3://b/k", cpu_state(nn.Linear(2, 2)), {})
    assert not Path("s3:").exists()


def test_a_file_uri_is_a_location_too(tmp_path) -> None:
    save_checkpoint(tmp_path / "c", cpu_state(nn.Linear(2, 3)), {"epoch": 4})
    ckpt = load_checkpoint((tmp_path / "c").as_uri())
    assert ckpt.meta["epoch"] == 4 and ckpt.state["weight"].shape == (3, 2)


@pytest.mark.gpu
def test_a_checkpoint_of_a_cuda_run_loads_on_the_cpu(synthetic: Dataset, tmp_path) -> None:
    result = train(mlp, synthetic, {"epochs": 2}, seed=0, device="cuda", checkpoint_dir=tmp_path)
    ckpt = load_checkpoint(tmp_path)
    assert result.device.startswith("cuda") and ckpt.meta["epoch"] == result.best_epoch
    assert all(t.device.type == "cpu" for t in ckpt.state.values())
    fresh = mlp()
    fresh.load_state_dict(ckpt.state)
    x, y = torch.from_numpy(synthetic.val.x), torch.from_numpy(synthetic.val.y)
    # AMP on the GPU vs float32 here: predictions may flip for a sample or two.
    assert accuracy(fresh, x, y) == pytest.approx(result.best_val_accuracy, abs=1.0)


def test_the_keeper_keeps_the_best_k_and_deletes_the_rest(tmp_path) -> None:
    keeper = CheckpointKeeper(2)
    saved = {
        name: save_checkpoint(tmp_path / name, cpu_state(nn.Linear(1, 1)), {}) for name in "abcd"
    }
    assert keeper.offer(saved["a"], 0.5) == []
    assert keeper.offer(saved["b"], 0.7) == []
    assert keeper.offer(saved["c"], 0.5) == [saved["c"]]  # ties: the earlier one stays
    assert keeper.offer(saved["d"], 0.9) == [saved["a"]]
    assert keeper.kept() == [saved["d"], saved["b"]]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b", "d"]


def test_keeping_all_or_none(tmp_path) -> None:
    every, none = CheckpointKeeper(None), CheckpointKeeper(0)
    a = save_checkpoint(tmp_path / "a", cpu_state(nn.Linear(1, 1)), {})
    assert every.offer(a, 1.0) == [] and (tmp_path / "a").exists()
    assert none.offer(a, 1.0) == [a] and not (tmp_path / "a").exists()
    with pytest.raises(CheckpointError, match="int >= 0 or None"):
        CheckpointKeeper(-1)

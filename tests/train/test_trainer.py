from __future__ import annotations

import contextlib
import dataclasses
import math
from itertools import pairwise

import pytest
import torch
from torch import nn

from nas.data import Dataset, get_dataset
from nas.errors import TrainingError
from nas.train import (
    EpochMetrics,
    Recipe,
    RecipeError,
    TrainResult,
    cosine_lr,
    measure_latency,
    resolve_device,
    train,
)
from nas.train._augment import augment_batch
from nas.train._device import Precision


@pytest.fixture(scope="module")
def mnist1d() -> Dataset:
    return get_dataset("mnist1d")


class SignalCNN(nn.Module):
    """A small 1-D CNN: (batch, 1, length) -> (batch, num_classes)."""

    def __init__(self, num_classes: int = 10, length: int = 40) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(1, 32, 5, padding=2),
            nn.BatchNorm1d(32),
            nn.ReLU(),
            nn.Conv1d(32, 32, 5, padding=2, stride=2),
            nn.BatchNorm1d(32),
            nn.ReLU(),
            nn.Conv1d(32, 32, 3, padding=1, stride=2),
            nn.ReLU(),
        )
        self.head = nn.Linear(32 * math.ceil(length / 4), num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x)  # (batch, 32, length / 4)
        return self.head(h.flatten(1))  # (batch, num_classes)


def mlp(in_features: int, num_classes: int, dropout: float = 0.0) -> nn.Module:
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(in_features, 64),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(64, num_classes),
    )


class ExplodesAtStep(nn.Module):
    """Injects NaN into the logits at a chosen training step (a fault on purpose)."""

    def __init__(self, bad_step: int) -> None:
        super().__init__()
        self.linear = nn.Linear(32, 4)
        self.bad_step = bad_step
        self.steps = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.linear(x.flatten(1))  # (batch, 4)
        if self.training:
            self.steps += 1
            if self.steps == self.bad_step:
                logits = logits * float("nan")
        return logits


# --- recipe and schedule --------------------------------------------------------------------


def test_recipe_defaults_coercion_and_round_trip() -> None:
    recipe = Recipe.from_mapping({"epochs": 3.0, "lr": 1, "nesterov": 0, "grad_clip": None})
    assert (recipe.epochs, recipe.lr, recipe.nesterov, recipe.optimizer) == (3, 1.0, False, "sgd")
    assert isinstance(recipe.epochs, int)
    assert Recipe.from_mapping(recipe.to_dict()) == recipe
    assert Recipe.from_mapping(None) == Recipe()


def test_unknown_recipe_key_lists_allowed_keys() -> None:
    with pytest.raises(RecipeError) as info:
        Recipe.from_mapping({"learning_rate": 0.1, "epochs": 2})
    message = str(info.value)
    assert "'learning_rate'" in message
    for key in Recipe.allowed_keys():
        assert key in message
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("optimizer", "adam", "one of"),
        ("lr", 0.0, "finite float > 0"),
        ("epochs", 2.5, "Expected int"),
        ("epochs", 0, "int >= 1"),
        ("momentum", 1.0, r"\[0, 1\)"),
        ("augment", 2.0, r"\[0, 1\]"),
        ("warmup_epochs", 20, r"\[0, epochs\]"),
        ("batch_size", "64", "Expected int"),
        ("nesterov", 2, "Expected bool"),
    ],
)
def test_bad_recipe_values_are_rejected(key: str, value: object, match: str) -> None:
    with pytest.raises(RecipeError, match=match):
        Recipe.from_mapping({key: value})


def test_cosine_schedule_warms_up_then_anneals() -> None:
    lrs = [cosine_lr(step, 100, 10, 0.5) for step in range(100)]
    assert lrs[0] == pytest.approx(0.05) and lrs[9] == pytest.approx(0.5)
    assert all(a < b for a, b in pairwise(lrs[:10]))  # linear warm-up rises
    assert all(a >= b for a, b in pairwise(lrs[10:]))  # cosine decays
    assert lrs[-1] < 0.001


# --- real training --------------------------------------------------------------------------


def test_cnn_learns_mnist1d(mnist1d: Dataset) -> None:
    result = train(SignalCNN, mnist1d, {"epochs": 4, "batch_size": 64}, seed=0, device="cpu")
    assert result.status == "ok" and result.error is None
    assert result.epochs_completed == 4
    assert result.val_accuracy > 60.0  # chance is 10%
    assert result.test_accuracy > 50.0
    assert result.params == sum(p.numel() for p in SignalCNN().parameters())
    assert result.best_val_accuracy == max(m.val_accuracy for m in result.history)
    assert result.device == "cpu" and result.recipe["batch_size"] == 64


def test_mlp_learns_digits_with_adamw() -> None:
    digits = get_dataset("digits")
    recipe = {"optimizer": "adamw", "lr": 3e-3, "weight_decay": 0.01, "epochs": 3, "batch_size": 32}
    result = train(lambda: mlp(64, 10), digits, recipe, seed=0, device="cpu")
    assert result.status == "ok"
    assert result.val_accuracy > 80.0  # chance is 10%


def test_every_recipe_feature_runs_and_learns(synthetic: Dataset) -> None:
    recipe = {
        "epochs": 2,
        "lr": 0.05,
        "warmup_epochs": 1,
        "label_smoothing": 0.1,
        "augment": 0.5,
        "grad_clip": 1.0,
        "batch_size": 32,
    }
    result = train(lambda: mlp(32, 4, dropout=0.1), synthetic, recipe, seed=1, device="cpu")
    assert result.status == "ok"
    assert result.val_accuracy > 50.0  # chance is 25%
    assert result.history[0].lr == pytest.approx(0.05)  # end of warm-up is the peak
    assert result.history[1].lr < 0.01  # annealed


def test_same_seed_same_metrics_different_seed_differs(synthetic: Dataset) -> None:
    recipe = {"epochs": 2, "augment": 0.5, "batch_size": 32}

    def run(seed: int) -> list[dict[str, float]]:
        result = train(lambda: mlp(32, 4, dropout=0.2), synthetic, recipe, seed=seed, device="cpu")
        rows = [m.to_dict() for m in result.history]
        for row in rows:
            del row["epoch_seconds"]
        return rows

    first = run(7)
    assert first == run(7)
    assert first != run(8)


def test_caller_random_state_is_untouched(synthetic: Dataset) -> None:
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    train(lambda: mlp(32, 4), synthetic, {"epochs": 1}, seed=0, device="cpu")
    assert torch.equal(torch.rand(3), expected)


def test_report_is_called_once_per_epoch_in_order(synthetic: Dataset) -> None:
    reported: list[EpochMetrics] = []
    result = train(
        lambda: mlp(32, 4), synthetic, {"epochs": 3}, seed=0, device="cpu", report=reported.append
    )
    assert [m.epoch for m in reported] == [1, 2, 3]
    assert reported == result.history
    curves = result.curves()
    assert curves["val_accuracy"] == [m.val_accuracy for m in reported]
    row = result.to_dict()
    assert row["epochs_completed"] == 3 and len(row["lr_curve"]) == 3
    for m in reported:
        assert 0.0 <= m.train_accuracy <= 100.0 and 0.0 <= m.val_accuracy <= 100.0
        assert m.epoch_seconds > 0


def test_should_stop_ends_the_run_after_the_current_epoch(synthetic: Dataset) -> None:
    reported: list[EpochMetrics] = []
    result = train(
        lambda: mlp(32, 4),
        synthetic,
        {"epochs": 5},
        seed=0,
        device="cpu",
        report=reported.append,
        should_stop=lambda: len(reported) >= 2,
    )
    assert result.status == "stopped" and result.epochs_completed == 2
    assert result.val_accuracy == reported[-1].val_accuracy


def test_exceptions_from_report_propagate(synthetic: Dataset) -> None:
    class TrialStopped(Exception):
        pass

    def report(metrics: EpochMetrics) -> None:
        raise TrialStopped(metrics.epoch)

    with pytest.raises(TrialStopped):
        train(lambda: mlp(32, 4), synthetic, {"epochs": 3}, seed=0, device="cpu", report=report)


# --- faults ---------------------------------------------------------------------------------


def test_nan_loss_is_reported_as_diverged_with_the_step(synthetic: Dataset) -> None:
    result = train(
        lambda: ExplodesAtStep(bad_step=40), synthetic, {"epochs": 3, "batch_size": 32},
        seed=0, device="cpu",
    )  # fmt: skip
    steps_per_epoch = 540 // 32  # 16: the incomplete batch is dropped
    assert result.status == "diverged"
    assert result.epochs_completed == 40 // steps_per_epoch  # 2 clean epochs before it
    assert "nan" in result.error and f"epoch 3, step {40 - 2 * steps_per_epoch}" in result.error
    with pytest.raises(TrainingError, match="diverged"):
        result.raise_for_status()


def test_huge_learning_rate_diverges() -> None:
    digits = get_dataset("digits")
    result = train(lambda: mlp(64, 10), digits, {"lr": 1e9, "epochs": 3}, seed=0, device="cpu")
    assert result.status == "diverged"
    assert "epoch 1" in result.error and "lower the learning rate" in result.error


def test_time_limit_stops_with_timeout(mnist1d: Dataset) -> None:
    result = train(
        SignalCNN, mnist1d, {"epochs": 200, "batch_size": 16}, seed=0, device="cpu",
        time_limit_s=0.5,
    )  # fmt: skip
    assert result.status == "timeout"
    assert result.epochs_completed < 200
    assert "Time limit of 0.5 s" in result.error


def test_wrong_output_shape_fails_with_a_clear_reason(synthetic: Dataset) -> None:
    result = train(lambda: mlp(32, 7), synthetic, {"epochs": 1}, seed=0, device="cpu")
    assert result.status == "failed"
    assert "expected (128, 4)" in result.error and "classifier head" in result.error
    assert result.history == [] and result.val_accuracy is None


def test_factory_errors_are_recorded_not_raised(synthetic: Dataset) -> None:
    def factory() -> nn.Module:
        raise RuntimeError("bad candidate")

    result = train(factory, synthetic, None, seed=0, device="cpu")
    assert result.status == "failed" and "RuntimeError: bad candidate" in result.error
    assert result.params == 0


def test_bad_arguments_raise(synthetic: Dataset) -> None:
    with pytest.raises(RecipeError, match="allowed keys"):
        train(lambda: mlp(32, 4), synthetic, {"lrate": 0.1}, seed=0)
    with pytest.raises(TrainingError, match="Unknown device"):
        train(lambda: mlp(32, 4), synthetic, None, seed=0, device="tpu0")


# --- device and precision -------------------------------------------------------------------


@pytest.mark.parametrize("device", ["cpu", "auto"])
def test_device_and_amp_code_path(synthetic: Dataset, device: str) -> None:
    expected = resolve_device(device)
    result = train(
        lambda: mlp(32, 4), synthetic, {"epochs": 1, "lr": 0.05}, seed=0, device=device, amp=True
    )
    assert result.status == "ok" and result.device == str(expected)
    assert result.val_accuracy > 40.0


def test_precision_is_a_pass_through_on_cpu() -> None:
    precision = Precision(torch.device("cpu"), enabled=True)
    assert not precision.enabled and not precision.scaler.is_enabled()
    assert isinstance(precision.autocast(), contextlib.nullcontext)
    weight = nn.Parameter(torch.ones(3))
    optimizer = torch.optim.SGD([weight], lr=0.5)
    precision.backward_and_step((weight * 2).sum(), optimizer)  # gradient 2 per entry
    assert torch.allclose(weight.detach(), torch.zeros(3))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_cuda_request_without_cuda_is_a_clear_error() -> None:
    with pytest.raises(TrainingError, match="CUDA is not available"):
        resolve_device("cuda")


@pytest.mark.gpu
def test_cuda_training_with_mixed_precision(mnist1d: Dataset) -> None:
    result = train(SignalCNN, mnist1d, {"epochs": 4, "batch_size": 64}, seed=0, device="cuda")
    assert result.status == "ok" and result.device.startswith("cuda")
    assert Precision(torch.device("cuda"), enabled=True).enabled
    assert result.val_accuracy > 60.0
    assert measure_latency(SignalCNN(), (1, 40), "cuda", repeats=5) > 0


# --- augmentation and latency ---------------------------------------------------------------


def test_augmentation_keeps_shapes_is_seeded_and_leaves_input_alone() -> None:
    signal = torch.randn(8, 2, 40)  # (batch, channels, length)
    image = torch.randn(8, 3, 32, 32)  # (batch, channels, height, width)
    for x in (signal, image):
        before = x.clone()
        a = augment_batch(x, 1.0, torch.Generator().manual_seed(0))
        b = augment_batch(x, 1.0, torch.Generator().manual_seed(0))
        assert a.shape == x.shape and torch.equal(a, b) and torch.equal(x, before)
        assert not torch.equal(a, x)
        assert augment_batch(x, 0.0, torch.Generator()) is x
    # A pure shift keeps every sample's values, only rotated.
    ramp = torch.arange(40.0).expand(4, 1, 40)
    shifted = augment_batch(ramp, 1.0, torch.Generator().manual_seed(1))
    assert torch.allclose(shifted.sort(dim=-1).values.mean(0), ramp[0], atol=1.0)


def test_measure_latency_is_positive_and_restores_mode() -> None:
    model = SignalCNN()
    model.train()
    ms = measure_latency(model, (1, 40), "cpu", batch_size=4, repeats=3, warmup=1)
    assert ms > 0 and model.training


def test_train_result_is_a_frozen_value() -> None:
    result = TrainResult(
        status="ok", history=[], val_accuracy=None, test_accuracy=None, best_epoch=None,
        best_val_accuracy=None, train_seconds=0.0, params=0, device="cpu", seed=0,
    )  # fmt: skip
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.status = "failed"  # type: ignore[misc]

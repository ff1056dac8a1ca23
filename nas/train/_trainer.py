"""The trainer: one function that trains a model on a dataset with a recipe and reports epochs."""

from __future__ import annotations

import contextlib
import math
import os
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch
from torch import nn

from nas.data import Dataset, Split
from nas.errors import TrainingError, describe_error
from nas.train._augment import augment_batch
from nas.train._checkpoint import cpu_state, save_checkpoint
from nas.train._device import Precision, resolve_device
from nas.train._recipe import Recipe
from nas.train._result import EpochMetrics, Status, TrainResult, best_of

__all__ = ["cosine_lr", "train"]

ModelOrFactory = nn.Module | Callable[[], nn.Module]

# Checking the loss for NaN/inf forces a device sync; doing it every few steps keeps the GPU
# busy while still naming the exact step that diverged.
_CHECK_EVERY = 25
_EVAL_BATCH_SIZE = 1024
# Splits larger than this stay in (pinned) host memory and move to the GPU batch by batch.
_MAX_DEVICE_BYTES = 4 * 2**30


class _Stop(Exception):
    """Ends the run early with a status other than ``failed``."""

    def __init__(self, status: Status, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def cosine_lr(step: int, total_steps: int, warmup_steps: int, base_lr: float) -> float:
    """Learning rate at ``step`` (0-based): linear warm-up to ``base_lr``, then cosine to 0.

    Example:
        >>> [round(cosine_lr(s, 10, 2, 1.0), 3) for s in (0, 1, 2, 6)]
        [0.5, 1.0, 1.0, 0.5]
    """
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * base_lr * (1.0 + math.cos(math.pi * min(1.0, progress)))


class _SplitTensors:
    """A split as tensors, on the compute device when it fits, else in pinned host memory."""

    def __init__(self, split: Split, device: torch.device) -> None:
        with warnings.catch_warnings():
            # The dataset's arrays are read-only and shared; nothing here writes to them.
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            x, y = torch.from_numpy(split.x), torch.from_numpy(split.y)
        self.device = device
        fits = device.type == "cpu" or x.nbytes + y.nbytes <= _MAX_DEVICE_BYTES
        if fits:
            self.x, self.y = x.to(device), y.to(device)
        else:
            self.x, self.y = x.pin_memory(), y.pin_memory()
        self.size = int(y.shape[0])

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        index = index.to(self.x.device)
        x, y = self.x[index], self.y[index]  # (batch, *input_shape), (batch,)
        return x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)

    def batches(self, batch_size: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return [
            self.batch(torch.arange(i, min(i + batch_size, self.size)))
            for i in range(0, self.size, batch_size)
        ]


def _build_optimizer(model: nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if recipe.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=recipe.lr, weight_decay=recipe.weight_decay)
    return torch.optim.SGD(
        params,
        lr=recipe.lr,
        momentum=recipe.momentum,
        weight_decay=recipe.weight_decay,
        nesterov=recipe.nesterov and recipe.momentum > 0,  # torch rejects nesterov without it
    )


@torch.no_grad()
def _evaluate(model: nn.Module, data: _SplitTensors, precision: Precision) -> tuple[float, float]:
    """Mean cross-entropy (no label smoothing, comparable across recipes) and accuracy in %."""
    if data.size == 0:
        return math.nan, math.nan
    model.eval()
    loss_sum = torch.zeros((), device=data.device)
    correct = torch.zeros((), device=data.device, dtype=torch.long)
    for x, y in data.batches(_EVAL_BATCH_SIZE):
        with precision.autocast():
            logits = model(x)  # (batch, num_classes)
        loss_sum += nn.functional.cross_entropy(logits.float(), y, reduction="sum")
        correct += (logits.argmax(dim=1) == y).sum()
    return loss_sum.item() / data.size, 100.0 * correct.item() / data.size


class _Run:
    """State of one training run; :meth:`run` never raises for model or training faults."""

    def __init__(
        self,
        model_or_factory: ModelOrFactory,
        dataset: Dataset,
        recipe: Recipe,
        *,
        seed: int,
        device: torch.device,
        time_limit_s: float | None,
        report: Callable[[EpochMetrics], None] | None,
        should_stop: Callable[[], bool] | None,
        amp: bool,
        checkpoint_dir: str | os.PathLike[str] | None,
    ) -> None:
        self.model_or_factory = model_or_factory
        self.dataset = dataset
        self.recipe = recipe
        self.seed = seed
        self.device = device
        self.time_limit_s = time_limit_s
        self.report = report
        self.should_stop = should_stop
        self.precision = Precision(device, enabled=amp)
        self.checkpoint_dir = checkpoint_dir
        self.checkpoint: str | None = None  # where the best epoch's weights are, once saved
        self.history: list[EpochMetrics] = []
        self.params = 0
        self.start = time.perf_counter()

    def run(self) -> TrainResult:
        try:
            model = self._build_model()
        except Exception as err:
            return self._result(
                "failed", f"Building the model failed: {describe_error(err, limit=2000)}"
            )
        recipe = self.recipe
        train_data = _SplitTensors(self.dataset.train, self.device)
        val_data = _SplitTensors(self.dataset.val, self.device)
        test_data = _SplitTensors(self.dataset.test, self.device)
        optimizer = _build_optimizer(model, recipe)
        criterion = nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)
        # Drop the last incomplete batch: a batch of one breaks BatchNorm, and equal batches
        # keep the step count, hence the schedule, a pure function of the recipe.
        steps_per_epoch = max(1, train_data.size // recipe.batch_size)
        total_steps = recipe.epochs * steps_per_epoch
        warmup_steps = round(recipe.warmup_epochs * steps_per_epoch)
        # Shuffling draws on the CPU so the order is the same on every device; augmentation
        # draws on the device so its noise never crosses the bus.
        order_generator = torch.Generator().manual_seed(self.seed)
        augment_generator = torch.Generator(device=self.device).manual_seed(self.seed + 1)
        self.start = time.perf_counter()

        for epoch in range(1, recipe.epochs + 1):
            epoch_start = time.perf_counter()
            try:
                model.train()
                order = torch.randperm(train_data.size, generator=order_generator)
                order = order.to(train_data.x.device)  # once per epoch, not per step
                loss_sum, correct, seen, lr = self._train_epoch(
                    model,
                    optimizer,
                    criterion,
                    train_data,
                    order,
                    epoch,
                    steps_per_epoch,
                    lambda step: cosine_lr(step, total_steps, warmup_steps, recipe.lr),
                    augment_generator,
                )
                val_loss, val_accuracy = _evaluate(model, val_data, self.precision)
                _, test_accuracy = _evaluate(model, test_data, self.precision)
            except _Stop as stop:
                return self._result(stop.status, stop.reason)
            except Exception as err:
                return self._result(
                    "failed", f"Training failed in epoch {epoch}: {describe_error(err, limit=2000)}"
                )
            metrics = EpochMetrics(
                epoch=epoch,
                train_loss=loss_sum / steps_per_epoch,
                train_accuracy=100.0 * correct / seen,
                val_loss=val_loss,
                val_accuracy=val_accuracy,
                test_accuracy=test_accuracy,
                epoch_seconds=time.perf_counter() - epoch_start,
                lr=lr,
            )
            self.history.append(metrics)
            if self.checkpoint_dir is not None and best_of(self.history) is metrics:
                # Saved before the report, so a report (e.g. Ray's) can ship these weights.
                self.checkpoint = save_checkpoint(
                    self.checkpoint_dir, cpu_state(model), {"epoch": epoch, **metrics.to_dict()}
                )
            # Callbacks run outside the try: an exception there (e.g. a scheduler ending the
            # trial) belongs to the caller and propagates.
            if self.report is not None:
                self.report(metrics)
            if epoch == recipe.epochs:
                break
            if self.should_stop is not None and self.should_stop():
                return self._result("stopped", f"Stopped by request after epoch {epoch}.")
            if self._over_time():
                return self._result("timeout", self._timeout_reason(epoch))
        return self._result("ok", None)

    def _build_model(self) -> nn.Module:
        model = self.model_or_factory
        if not isinstance(model, nn.Module):
            model = model()
        if not isinstance(model, nn.Module):
            raise TypeError(
                f"the factory returned {type(model).__name__}, expected a torch.nn.Module"
            )
        self.params = sum(p.numel() for p in model.parameters() if p.requires_grad)
        return model.to(self.device)

    def _train_epoch(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        criterion: nn.Module,
        data: _SplitTensors,
        order: torch.Tensor,
        epoch: int,
        steps_per_epoch: int,
        lr_at: Callable[[int], float],
        augment_generator: torch.Generator,
    ) -> tuple[float, int, int, float]:
        """One pass; returns (summed step losses, correct count, samples seen, last lr)."""
        recipe = self.recipe
        num_classes = self.dataset.num_classes
        clip = None
        if recipe.grad_clip is not None:
            max_norm = recipe.grad_clip

            def clip() -> object:
                return nn.utils.clip_grad_norm_(model.parameters(), max_norm)

        pending: list[torch.Tensor] = []  # step losses not yet checked for NaN/inf
        loss_sum, lr = 0.0, recipe.lr
        correct = torch.zeros((), device=self.device, dtype=torch.long)
        seen = 0
        for step in range(steps_per_epoch):
            lr = lr_at((epoch - 1) * steps_per_epoch + step)
            for group in optimizer.param_groups:
                group["lr"] = lr
            x, y = data.batch(order[step * recipe.batch_size : (step + 1) * recipe.batch_size])
            x = augment_batch(x, recipe.augment, augment_generator)  # (batch, *input_shape)
            with self.precision.autocast():
                logits = model(x)  # (batch, num_classes)
                if step == 0 and tuple(logits.shape) != (y.shape[0], num_classes):
                    raise TrainingError(
                        f"The model returned shape {tuple(logits.shape)} for a batch of "
                        f"{tuple(x.shape)}; expected ({y.shape[0]}, {num_classes}) for "
                        f"dataset {self.dataset.name!r}. Check the model's classifier head."
                    )
                loss = criterion(logits.float(), y)
            optimizer.zero_grad(set_to_none=True)
            self.precision.backward_and_step(loss, optimizer, clip)
            pending.append(loss.detach())
            correct += (logits.argmax(dim=1) == y).sum()
            seen += int(y.shape[0])
            if len(pending) == _CHECK_EVERY or step == steps_per_epoch - 1:
                loss_sum += self._check_losses(pending, epoch, step, steps_per_epoch)
                pending = []
            if self._over_time():
                raise _Stop("timeout", self._timeout_reason(epoch - 1, step + 1))
        return loss_sum, int(correct.item()), seen, lr

    def _check_losses(
        self, pending: list[torch.Tensor], epoch: int, step: int, steps_per_epoch: int
    ) -> float:
        losses = torch.stack(pending)  # (steps,)
        finite = torch.isfinite(losses)
        if bool(finite.all()):
            return float(losses.sum().item())
        first = int((~finite).nonzero()[0, 0].item())
        bad_step = step - len(pending) + 1 + first
        value = losses[first].item()
        raise _Stop(
            "diverged",
            f"Loss became {value} at epoch {epoch}, step {bad_step + 1} of {steps_per_epoch} "
            f"(global step {(epoch - 1) * steps_per_epoch + bad_step + 1}, lr "
            f"{self.recipe.lr:g} peak); lower the learning rate or set grad_clip.",
        )

    def _over_time(self) -> bool:
        return (
            self.time_limit_s is not None and time.perf_counter() - self.start > self.time_limit_s
        )

    def _timeout_reason(self, epochs_done: int, step: int | None = None) -> str:
        where = f" (during epoch {epochs_done + 1}, step {step})" if step is not None else ""
        return (
            f"Time limit of {self.time_limit_s:g} s reached after {epochs_done} of "
            f"{self.recipe.epochs} epochs{where}."
        )

    def _result(self, status: Status, error: str | None) -> TrainResult:
        history = list(self.history)
        best = best_of(history)
        last = history[-1] if history else None
        return TrainResult(
            status=status,
            history=history,
            val_accuracy=None if last is None else last.val_accuracy,
            test_accuracy=None if last is None else last.test_accuracy,
            best_epoch=None if best is None else best.epoch,
            best_val_accuracy=None if best is None else best.val_accuracy,
            best_test_accuracy=None if best is None else best.test_accuracy,
            best_val_loss=None if best is None else best.val_loss,
            checkpoint=self.checkpoint,
            train_seconds=time.perf_counter() - self.start,
            params=self.params,
            device=str(self.device),
            seed=self.seed,
            recipe=self.recipe.to_dict(),
            error=error,
            threads=torch.get_num_threads(),
        )


def train(
    model_or_factory: ModelOrFactory,
    dataset: Dataset,
    recipe: Mapping[str, Any] | Recipe | None = None,
    *,
    seed: int,
    device: str | torch.device = "auto",
    time_limit_s: float | None = None,
    report: Callable[[EpochMetrics], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    amp: bool = True,
    checkpoint_dir: str | os.PathLike[str] | None = None,
) -> TrainResult:
    """Train a classifier on ``dataset`` and report metrics after every epoch.

    The whole run is seeded from ``seed`` (model initialization when a factory is given,
    batch order, augmentation, dropout), inside ``torch.random.fork_rng`` so the caller's
    global random state is left as it was. On CPU two runs with the same seed and the same
    torch thread count give identical curves (a different thread count may change float
    summation order, so the count is reported in ``TrainResult.threads``). On CUDA the run
    uses deterministic cuDNN convolutions (no autotuning) and deterministic algorithms where
    torch has them (``warn_only``); ops without one (atomic adds in some backward kernels)
    may still differ in the last bits between runs.

    The best epoch is the one with the highest validation accuracy (the first of equals);
    with ``checkpoint_dir`` its weights are saved there (see :mod:`nas.train._checkpoint`)
    each time a new best epoch ends, before ``report`` is called for it.

    Every split is held as tensors on the device and iterated as shuffled index batches (no
    DataLoader workers), since NAS candidates are small and epochs short. Mixed precision
    (``torch.autocast`` plus ``GradScaler``) is used on CUDA when ``amp``; on CPU the same
    code path runs with a no-op autocast and a disabled scaler.

    Faults in the model or in training do not raise: they come back as the result's
    ``status`` (``"failed"``, ``"diverged"`` for a NaN/inf loss) with the reason in
    ``error``. Exceptions raised by ``report`` or ``should_stop`` propagate to the caller.

    Args:
        model_or_factory: a module, or a zero-argument callable building one (preferred: its
            initialization is then seeded too). It maps ``(batch, *dataset.input_shape)`` to
            ``(batch, dataset.num_classes)`` logits. A module passed in is moved to the device
            and trained in place.
        dataset: the data; selection metrics come from ``dataset.val``.
        recipe: hyper-parameters, a :class:`Recipe` or a flat mapping of its keys.
        seed: seed of the run.
        device: ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
        time_limit_s: wall-clock budget of the training loop; past it the run stops with
            status ``"timeout"`` (checked after every step).
        report: called with each epoch's :class:`EpochMetrics`, in order.
        should_stop: polled after each epoch's report; ``True`` ends the run with status
            ``"stopped"`` (how a scheduler such as ASHA ends a trial early).
        amp: allow mixed precision on CUDA.
        checkpoint_dir: a local directory for the best epoch's weights (None: not saved).

    Returns:
        A :class:`TrainResult`; accuracies are in percent.

    Raises:
        RecipeError: the recipe has an unknown key or a bad value.
        TrainingError: the device is unavailable or unknown.

    Example:
        >>> from torch import nn
        >>> from nas.data import get_dataset
        >>> ds = get_dataset("synthetic", num_classes=3, length=16)
        >>> result = train(lambda: nn.Sequential(nn.Flatten(), nn.Linear(16, 3)), ds,
        ...                {"epochs": 2, "lr": 0.05}, seed=0, device="cpu")
        >>> result.status, result.epochs_completed, result.val_accuracy > 50
        ('ok', 2, True)
    """
    parsed = Recipe.from_mapping(recipe)
    torch_device = resolve_device(device)
    if time_limit_s is not None and not time_limit_s > 0:
        raise TrainingError(f"Expected time_limit_s > 0 or None (got {time_limit_s}).")
    cuda_devices = [torch_device.index] if torch_device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda_devices), _deterministic(torch_device):
        torch.manual_seed(seed)
        return _Run(
            model_or_factory,
            dataset,
            parsed,
            seed=seed,
            device=torch_device,
            time_limit_s=time_limit_s,
            report=report,
            should_stop=should_stop,
            amp=amp,
            checkpoint_dir=checkpoint_dir,
        ).run()


@contextlib.contextmanager
def _deterministic(device: torch.device) -> Iterator[None]:
    """Deterministic CUDA kernels for the run; torch's global flags are restored after it."""
    if device.type != "cuda":
        yield
        return
    # cuBLAS reads this when it creates its handle: it keeps one workspace per stream so
    # reductions do not depend on scheduling (a no-op if the handle already exists).
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    saved = (
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
    )
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have a deterministic implementation")
        torch.use_deterministic_algorithms(True, warn_only=True)
        try:
            yield
        finally:
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved[:2]
            torch.use_deterministic_algorithms(saved[2], warn_only=saved[3])

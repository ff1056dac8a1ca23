"""Inference latency of a model on a device."""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence

import torch
from torch import nn

from nas.train._device import resolve_device

__all__ = ["measure_latency"]


@torch.no_grad()
def measure_latency(
    model: nn.Module,
    input_shape: Sequence[int],
    device: str | torch.device = "auto",
    batch_size: int = 1,
    repeats: int = 30,
    warmup: int = 5,
) -> float:
    """Median forward-pass latency in milliseconds, in eval mode on random input.

    The model is moved to ``device`` (in place) and its train/eval mode restored afterwards.
    On CUDA every pass is synchronized, so the time is the kernels', not the launch's.

    Args:
        model: the module to time.
        input_shape: one sample's shape, batch excluded, e.g. ``(1, 40)``.
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        batch_size: samples per forward pass.
        repeats: timed passes; the median is returned.
        warmup: untimed passes first (allocator, cuDNN autotuning, lazy init).

    Example:
        >>> from torch import nn
        >>> ms = measure_latency(nn.Linear(40, 10), (40,), "cpu", repeats=3)
        >>> ms > 0
        True
    """
    if repeats < 1 or warmup < 0 or batch_size < 1:
        raise ValueError(
            f"Expected repeats >= 1, warmup >= 0, batch_size >= 1 "
            f"(got {repeats}, {warmup}, {batch_size})."
        )
    torch_device = resolve_device(device)
    was_training = model.training
    model.to(torch_device).eval()
    x = torch.randn((batch_size, *input_shape), device=torch_device)  # (batch, *input_shape)

    def sync() -> None:
        if torch_device.type == "cuda":
            torch.cuda.synchronize(torch_device)

    try:
        for _ in range(warmup):
            model(x)
        sync()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            model(x)
            sync()
            times.append(time.perf_counter() - start)
    finally:
        model.train(was_training)
    return 1000.0 * statistics.median(times)

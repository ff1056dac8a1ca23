"""Device selection and mixed precision, one code path for CPU and CUDA."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager

import torch

from nas.errors import TrainingError

__all__ = ["Precision", "resolve_device"]


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """The torch device for ``device``: ``"auto"`` is CUDA when available, else CPU.

    Raises:
        TrainingError: CUDA was asked for but is not available, or the name is not a device.

    Example:
        >>> resolve_device("cpu")
        device(type='cpu')
    """
    if isinstance(device, str) and device == "auto":
        return (
            torch.device("cuda", torch.cuda.current_device())
            if torch.cuda.is_available()
            else torch.device("cpu")
        )
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise TrainingError(
            f"Unknown device {device!r} ({err}); use 'auto', 'cpu', 'cuda' or 'cuda:N'."
        ) from None
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise TrainingError(
                f"Device {device!r} asked for, but CUDA is not available here; "
                "use device='auto' or 'cpu'."
            )
        if resolved.index is None:
            resolved = torch.device("cuda", torch.cuda.current_device())
    elif resolved.type != "cpu":
        raise TrainingError(
            f"Unsupported device {device!r}; use 'auto', 'cpu', 'cuda' or 'cuda:N'."
        )
    return resolved


class Precision:
    """Mixed precision for one device: autocast plus a gradient scaler.

    On CUDA with ``enabled``, forward passes run under ``torch.autocast`` in bfloat16 where the
    GPU supports it (no loss scaling needed) and float16 with a ``GradScaler`` otherwise. On
    CPU, or with ``enabled=False``, :meth:`autocast` is a no-op context and the scaler is a
    disabled ``GradScaler`` whose methods pass through, so the training step calls the very
    same methods on every device.
    """

    def __init__(self, device: torch.device, *, enabled: bool = True) -> None:
        self.enabled = enabled and device.type == "cuda"
        self.dtype = (
            torch.bfloat16 if self.enabled and torch.cuda.is_bf16_supported() else torch.float16
        )
        self._device_type = device.type
        self.scaler = torch.amp.GradScaler(
            device.type, enabled=self.enabled and self.dtype == torch.float16
        )

    def autocast(self) -> AbstractContextManager[object]:
        if not self.enabled:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self._device_type, dtype=self.dtype)

    def backward_and_step(
        self,
        loss: torch.Tensor,
        optimizer: torch.optim.Optimizer,
        clip: Callable[[], object] | None = None,
    ) -> None:
        """``loss.backward()``, optional clipping on unscaled gradients, optimizer step."""
        self.scaler.scale(loss).backward()
        if clip is not None:
            self.scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
            clip()
        self.scaler.step(optimizer)
        self.scaler.update()

"""Batch augmentation on the device, driven by one strength in [0, 1] and a seeded generator."""

from __future__ import annotations

import torch

__all__ = ["augment_batch"]

# At strength 1: shift up to 10% of the signal, gain in [0.8, 1.2], noise std 0.1 (the built-in
# signals are standardized, so that is 10% of their spread); images move up to 1/8 of their
# size (the usual 4 pixels on 32x32 CIFAR).
_MAX_SHIFT_FRACTION = 0.1
_MAX_GAIN_DELTA = 0.2
_MAX_NOISE_STD = 0.1
_MAX_IMAGE_SHIFT_FRACTION = 0.125


def augment_batch(x: torch.Tensor, strength: float, generator: torch.Generator) -> torch.Tensor:
    """A randomly augmented copy of a batch; ``x`` itself is never modified.

    1-D signals ``(batch, channels, length)``: random circular shift, gain and Gaussian noise.
    Images ``(batch, channels, height, width)``: random translation with zero padding and a
    random horizontal flip. Other shapes are returned unchanged.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> augment_batch(torch.zeros(2, 1, 10), 1.0, g).shape
        torch.Size([2, 1, 10])
    """
    if strength <= 0:
        return x
    if x.dim() == 3:
        return _augment_signal(x, strength, generator)
    if x.dim() == 4:
        return _augment_image(x, strength, generator)
    return x


def _uniform(
    shape: tuple[int, ...], low: float, high: float, like: torch.Tensor, g: torch.Generator
) -> torch.Tensor:
    u = torch.rand(shape, generator=g, device=like.device, dtype=like.dtype)
    return low + (high - low) * u


def _augment_signal(x: torch.Tensor, strength: float, g: torch.Generator) -> torch.Tensor:
    batch, channels, length = x.shape
    max_shift = round(_MAX_SHIFT_FRACTION * strength * length)
    if max_shift > 0:
        shift = torch.randint(-max_shift, max_shift + 1, (batch, 1), generator=g, device=x.device)
        # (batch, length): source position of each output position, wrapping around
        index = (torch.arange(length, device=x.device)[None, :] - shift) % length
        x = x.gather(2, index[:, None, :].expand(batch, channels, length))
    delta = _MAX_GAIN_DELTA * strength
    gain = _uniform((batch, 1, 1), 1 - delta, 1 + delta, x, g)  # (batch, 1, 1)
    noise = torch.randn(x.shape, generator=g, device=x.device, dtype=x.dtype)
    return x * gain + (_MAX_NOISE_STD * strength) * noise  # (batch, channels, length)


def _augment_image(x: torch.Tensor, strength: float, g: torch.Generator) -> torch.Tensor:
    batch, channels, height, width = x.shape
    pad = round(_MAX_IMAGE_SHIFT_FRACTION * strength * min(height, width))
    if pad > 0:
        padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))  # (batch, C, H + 2p, W + 2p)
        dy = torch.randint(0, 2 * pad + 1, (batch, 1), generator=g, device=x.device)
        dx = torch.randint(0, 2 * pad + 1, (batch, 1), generator=g, device=x.device)
        rows = dy + torch.arange(height, device=x.device)[None, :]  # (batch, H)
        cols = dx + torch.arange(width, device=x.device)[None, :]  # (batch, W)
        b = torch.arange(batch, device=x.device)[:, None, None, None]
        c = torch.arange(channels, device=x.device)[None, :, None, None]
        x = padded[b, c, rows[:, None, :, None], cols[:, None, None, :]]  # random crops
    flip = torch.rand((batch, 1, 1, 1), generator=g, device=x.device) < 0.5
    return torch.where(flip, x.flip(-1), x)  # (batch, channels, height, width)

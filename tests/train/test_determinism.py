"""Deterministic CUDA kernels for a run (seeded streams: tests/train/test_trainer.py)."""

from __future__ import annotations

import os

import torch

from nas.train._trainer import _deterministic


def test_cuda_runs_switch_deterministic_kernels_on_and_restore_the_flags() -> None:
    before = (
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
        torch.are_deterministic_algorithms_enabled(),
    )
    # Only flags are set (no CUDA call), so this runs without a GPU too.
    with _deterministic(torch.device("cuda", 0)):
        assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
        assert torch.are_deterministic_algorithms_enabled()
        assert torch.is_deterministic_algorithms_warn_only_enabled()
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    after = (
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
        torch.are_deterministic_algorithms_enabled(),
    )
    assert after == before


def test_cpu_runs_leave_the_flags_alone() -> None:
    before = torch.are_deterministic_algorithms_enabled()
    with _deterministic(torch.device("cpu")):
        assert torch.are_deterministic_algorithms_enabled() == before

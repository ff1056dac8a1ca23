"""Shared fixtures for the result-store tests: real Parquet files under tmp_path."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import pytest

from nas.store import Result, ResultStore


def _make_result(i: int, **overrides: Any) -> Result:
    """A fully populated result (every column type), distinct per ``i``."""
    fields: dict[str, Any] = {
        "space": "nb201",
        "space_version": "1.0",
        "arch": {"cell": [i % 5, "conv_3x3"], "depth": i},
        "arch_id": f"arch-{i:05d}",
        "graph_hash": f"g{i:08x}",
        "dataset": "cifar10",
        "recipe": {"epochs": 12, "lr": 0.1},
        "seed": i % 3,
        "fidelity": 12,
        "status": "ok",
        "train_loss_curve": [2.3, 1.1, 0.5 + i / 1000],
        "val_accuracy_curve": [40.0, 70.5, 80.0 + i % 10],
        "test_accuracy_curve": [39.0, 69.5, 79.0 + i % 10],
        "epoch_seconds": [1.5, 1.4, 1.45],
        "val_accuracy": 80.0 + i % 10,
        "test_accuracy": 79.0 + i % 10,
        "val_loss": 0.61,
        "params": 1000 + i,
        "flops": 10_000 + i,
        "latency_ms": 1.25,
        "train_seconds": 4.35,
        "extra": {"synflow": 12.5, "jacov": -3.0},
        "run_id": "run-1",
        "trial_id": f"t{i}",
        "host": "node-a",
        "node_id": "n0",
        "engine_version": "0.1.0",
        "created_at": datetime(2025, 1, 2, 3, 4, 5, i % 1_000_000, tzinfo=timezone.utc),
        "source": "nas",
    }
    fields.update(overrides)
    return Result(**fields)


@pytest.fixture
def results() -> Callable[..., list[Result]]:
    """``results(n, start=0, **overrides)``: n distinct, fully populated results."""

    def build(n: int, start: int = 0, **overrides: Any) -> list[Result]:
        return [_make_result(i, **overrides) for i in range(start, start + n)]

    return build


@pytest.fixture
def store(tmp_path) -> ResultStore:
    return ResultStore(tmp_path / "runs")


@pytest.fixture
def make_result() -> Callable[..., Result]:
    """``make_result(i, **overrides)``: one fully populated result (every column type)."""
    return _make_result

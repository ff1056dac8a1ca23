"""Shared fixtures: custom test spaces and the path of the public benchmark tables."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_benchmarks() -> Path:
    """``../shared/benchmarks`` beside the checkout (CI lays it there), or $NAS_SHARED_BENCHMARKS."""
    env = os.environ.get("NAS_SHARED_BENCHMARKS")
    path = Path(env) if env else REPO.parent / "shared" / "benchmarks"
    if not path.is_dir():
        pytest.fail(f"benchmark tables not found at {path}; set NAS_SHARED_BENCHMARKS")
    return path


@pytest.fixture(scope="session")
def benchmarks_dir() -> Path:
    return shared_benchmarks()

"""Fixtures shared by the reliability tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from nas.cli import main


@pytest.fixture(scope="session")
def tabular_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store of 100 NAS-Bench-201 rows in one Parquet file, written by ``nas search``.

    Shared by every test that asks for it: read it, copy it, never write into it.
    """
    store = tmp_path_factory.mktemp("tabular") / "store"
    argv = ["search", "--space", "nb201", "--evaluator", "tabular:nb201-cifar10", "--budget",
            "100", "--store", str(store)]  # fmt: skip
    assert main(argv) == 0
    return store

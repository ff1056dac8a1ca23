from __future__ import annotations

import os

import pytest
import torch


@pytest.fixture(scope="session", autouse=True)
def _one_thread_and_data_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    # Generating mnist1d takes seconds: once per session, on disk, for the driver and for
    # every Ray worker (they inherit NAS_CACHE_DIR through run_ray_search).
    torch.set_num_threads(1)
    cache = os.environ.get("NAS_CACHE_DIR") or str(tmp_path_factory.getbasetemp() / "nas-cache")
    os.environ["NAS_CACHE_DIR"] = cache

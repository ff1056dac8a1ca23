"""Shared tiny configs and graphs for the predictor tests (one thread: the CPUs are shared)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nas.predictors import PredictorConfig

torch.set_num_threads(1)

TINY = PredictorConfig(hidden=16, layers=2, emb_dim=16, n_clusters=3, head_hidden=8, epochs=6)


@pytest.fixture(scope="session")
def macro_graphs():
    """40 NAS-Bench-Macro graphs and a target that depends on structure (log params)."""
    from nas.space import get_space

    space = get_space("nb_macro")
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(40)]
    graphs = [space.compile(a) for a in archs]
    y = np.log([g.params for g in graphs])
    return graphs, y

from __future__ import annotations

import pytest
import torch

from nas.data import Dataset, get_dataset

# The test machines are shared; one thread keeps runs predictable and CPU results bitwise stable.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def synthetic() -> Dataset:
    """Four classes of 32-long signals: 600 training samples, small enough to train in a second."""
    return get_dataset("synthetic", num_classes=4, length=32, num_train=600, num_test=200)

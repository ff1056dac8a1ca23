"""The one-shot path of the NB-201 anchors runs on CIFAR-10 where a user has the files.

The files here are a tiny fake copy in the official python-pickle format, made in the test;
the code path (local directory -> dataset -> supernet of the full ``nb201`` network -> DARTS ->
derived arch) is the one a real CIFAR-10 directory takes.
"""

from __future__ import annotations

import pickle

import numpy as np

from nas.data import get_dataset
from nas.oneshot import OneShotConfig, search
from nas.space import get_space


def _fake_cifar10(root, per_batch: int = 8, test: int = 8) -> None:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        n = test if name == "test_batch" else per_batch
        batch = {
            b"batch_label": b"fake",
            b"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
            b"labels": [int(v) for v in rng.integers(0, 10, size=n)],
            b"filenames": [b"x.png"] * n,
        }
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f, protocol=2)


def test_darts_on_nb201_reads_a_local_cifar10_directory(tmp_path) -> None:
    _fake_cifar10(tmp_path)
    data = get_dataset("cifar10", data_dir=str(tmp_path))
    config = OneShotConfig(epochs=1, batch_size=8, bn_batches=1)
    out = search(get_space("nb201"), data, "darts", config=config, seed=0, device="cpu")
    assert out.arch.space == "nb201" and len(out.arch.values) == 6
    assert set(out.trajectory[0]["probs"]) == set(out.arch.values)
    assert 0.0 <= out.test_accuracy <= 100.0

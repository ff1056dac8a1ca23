"""The field's evaluation protocols: target column, train/test splits, unique-arch scoring.

Splits (``split=``):

- ``gates``: the GATES split (Ning et al., ECCV 2020) that FlowerFormer (CVPR 2024), FGP and
  HyperNAS report on. NB-201's 15,625 archs in the official ``arch_index`` order; the first
  7,813 (``arch_index < 7813``) are the training pool, the other 7,812 the test set. This is
  what the FlowerFormer reference code does for NB-201 (``num_train = 7813``; its ``"ori"``
  permutation is the identity over the preprocessed data, which follows the official index
  order, and the training set is the first ``N`` of the pool). Here a seed draws the ``N``
  training archs from the pool (FlowerFormer's ``"ori"`` runs always take the first ``N``);
  the test half never changes. Unlike the reference code, no test-half archs are used for
  early stopping (it keeps 40 of them as a validation set): nothing about the test half
  informs training.
- ``tnasp``: TNASP / NAR-Former / NN-Former: ``N`` archs drawn from all 15,625, tested on
  all 15,625 (the training archs included, as those papers do).
- ``random``: ``N`` random archs, tested on ``test_size`` other random archs of the table.

Scores are reported on all test archs and on unique archs: isomorphism classes by
``graph_hash`` counted once (the class's mean target against its mean prediction).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from nas.predictors._errors import PredictorError
from nas.predictors._metrics import score_predictions
from nas.predictors._tables import LabeledTable

__all__ = [
    "GATES_POOL",
    "SPLITS",
    "TARGETS",
    "Protocol",
    "protocol_split",
    "score_all_and_unique",
    "table_meta",
    "target_label",
]

SPLITS = ("gates", "tnasp", "random")
#: Target columns a protocol may score (``--target``).
TARGETS = ("test_accuracy", "val_accuracy")
GATES_POOL = 7813  # archs in the GATES training pool (NB-201 arch_index 0..7812)
NB201_ROWS = 15625

# What each target column means in the NB-201 tables (from their cards in datasets/).
_NB201_TARGETS = {
    "test_accuracy": "200-epoch test accuracy",
    "val_accuracy": "12-epoch validation accuracy",
}


def target_label(table: str, target: str) -> str:
    """A reader's name for ``target`` of ``table`` (NB-201: which epoch budget it is)."""
    if target not in TARGETS:
        raise PredictorError(f"Unknown target {target!r}; use one of {', '.join(TARGETS)}.")
    if table.startswith("nb201-"):
        return _NB201_TARGETS[target]
    return f"the table's {target} column"


@dataclass(frozen=True)
class Protocol:
    """What was measured: table, target, split, label counts, seeds; printed with every figure.

    Example:
        >>> Protocol("nb201-cifar10", "test_accuracy", "gates", (78,), (0, 1)).line()[:40]
        'nb201-cifar10 | target test_accuracy (20'
    """

    table: str
    target: str
    split: str
    train_sizes: tuple[int, ...]
    seeds: tuple[int, ...]
    test_size: int | None = None
    zc_archs: int = 0

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise PredictorError(f"Unknown split {self.split!r}; use one of {', '.join(SPLITS)}.")
        target_label(self.table, self.target)  # raises on an unknown target

    def test_description(self) -> str:
        if self.split == "gates":
            return (
                f"train from arch_index < {GATES_POOL}, test on the other {NB201_ROWS - GATES_POOL}"
            )
        if self.split == "tnasp":
            return "train from all archs, test on all archs"
        return f"test on {self.test_size} other random archs"

    def line(self) -> str:
        seeds = f"{self.seeds[0]}..{self.seeds[-1]}" if len(self.seeds) > 1 else str(self.seeds[0])
        zc = f" | zero-cost proxies on {self.zc_archs} test archs" if self.zc_archs else ""
        return (
            f"{self.table} | target {self.target} ({target_label(self.table, self.target)}) | "
            f"split {self.split}: {self.test_description()} | labels "
            f"{','.join(map(str, self.train_sizes))} | seeds {seeds} ({len(self.seeds)}) | "
            f"all archs and unique archs (graph_hash classes once){zc}"
        )

    def to_dict(self) -> dict:
        return {**asdict(self), "target_label": target_label(self.table, self.target),
                "test": self.test_description(), "line": self.line()}  # fmt: skip


@dataclass(frozen=True)
class TableMeta:
    """Per-row ``arch_index`` (official NB-201 order; ``-1`` if absent) and ``graph_hash``."""

    arch_index: np.ndarray
    graph_hash: list[str]


def table_meta(t: LabeledTable) -> TableMeta:
    """Read each row's ``arch_index`` and ``graph_hash`` from the table's Parquet file."""
    from nas.bench import load_table

    cols = load_table(t.name).select(["arch_id", "graph_hash", "extra"]).to_pydict()
    at = {a: i for i, a in enumerate(cols["arch_id"])}
    index = np.full(len(t), -1, dtype=np.int64)
    hashes: list[str] = []
    for row, key in enumerate(t.keys):
        i = at[key]
        extra = json.loads(cols["extra"][i]) if cols["extra"][i] else {}
        index[row] = int(extra.get("arch_index", -1))
        hashes.append(cols["graph_hash"][i] or key)  # no hash: the arch is its own class
    return TableMeta(index, hashes)


def protocol_split(
    split: str,
    meta: TableMeta,
    n_train: int,
    seed: int,
    *,
    test_size: int = 1000,
    max_train: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Row indices ``(train, test)`` of one split for ``n_train`` labels and ``seed``.

    ``max_train`` (random split): the largest train size of the run, so every size of a
    seed is tested on the same archs.
    """
    n = len(meta.arch_index)
    rng = np.random.default_rng(seed)
    if split == "gates":
        if n != NB201_ROWS or sorted(meta.arch_index.tolist()) != list(range(NB201_ROWS)):
            raise PredictorError(
                "The gates split needs an NB-201 table with all 15,625 arch_index values "
                "(nb201-cifar10, nb201-cifar100); use --split random for other tables."
            )
        pool = np.flatnonzero(meta.arch_index < GATES_POOL)
        test = np.flatnonzero(meta.arch_index >= GATES_POOL)
        pool, test = (
            pool[np.argsort(meta.arch_index[pool])],
            test[np.argsort(meta.arch_index[test])],
        )
        if n_train > len(pool):
            raise PredictorError(f"The gates pool has {len(pool)} archs; got {n_train} labels.")
        return rng.permutation(pool)[:n_train], test
    if split == "tnasp":
        if n_train > n:
            raise PredictorError(f"Table has {n} archs; got {n_train} labels.")
        return rng.permutation(n)[:n_train], np.arange(n)
    if split == "random":
        largest = max(n_train, max_train or 0)
        if largest >= n:
            raise PredictorError(f"Table has {n} archs; {largest} labels leave none to test.")
        perm = rng.permutation(n)
        return perm[:n_train], perm[n - min(test_size, n - largest) :]
    raise PredictorError(f"Unknown split {split!r}; use one of {', '.join(SPLITS)}.")


def unique_classes(hashes: Sequence[str]) -> tuple[np.ndarray, int]:
    """Class id per row (first-seen order) and the number of classes."""
    ids: dict[str, int] = {}
    cls = np.array([ids.setdefault(h, len(ids)) for h in hashes], dtype=np.int64)
    return cls, len(ids)


def score_all_and_unique(
    y_true: np.ndarray, y_pred: np.ndarray, hashes: Sequence[str], *, with_mae: bool = True
) -> dict[str, dict]:
    """Scores on every test arch and on unique archs (graph_hash classes, means per class).

    Example:
        >>> s = score_all_and_unique(np.array([1.0, 1.2, 3.0]), np.array([1.0, 1.0, 2.0]), ["a", "a", "b"])
        >>> s["all"]["n"], s["unique"]["n"]
        (3, 2)
    """
    cls, k = unique_classes(hashes)
    count = np.bincount(cls, minlength=k)
    yt = np.bincount(cls, weights=y_true, minlength=k) / count
    yp = np.bincount(cls, weights=y_pred, minlength=k) / count
    return {
        "all": score_predictions(y_true, y_pred, with_mae=with_mae),
        "unique": score_predictions(yt, yp, with_mae=with_mae),
    }

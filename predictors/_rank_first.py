"""The cheap side of ranking: candidates drawn as rows of decision indices, deduplicated on
their decisions, and the first pass that scores them without compiling any.

A space whose decisions are all choices or int ranges is sampled a block at a time with one
``rng.integers`` call: each row holds one index per declared decision, drawn uniformly as
:meth:`Space.sample` draws each active decision, so the candidates have the distribution of
:meth:`Space.sample` (the indices of decisions a row leaves inactive are simply not read).
Rows are deduplicated by their mixed-radix key before anything is built; an ``Arch`` is
decoded (:meth:`Space.decode`) only for a row that goes on to be compiled.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from nas.space import Arch, Choice, IntRange, Space

__all__ = ["Block", "DecisionDraws", "FirstPass"]

FIRST_PASS_SCORER = "ridge on the one-hot decisions, fitted to the model's own scores"


class DecisionDraws:
    """Draw, key, one-hot encode and decode candidates as rows of decision indices.

    Example:
        >>> from nas.space import get_space
        >>> space = get_space("nb201"); draws = DecisionDraws(space)
        >>> rows = draws.draw(np.random.default_rng(0), 4)
        >>> rows.shape, space.contains(draws.arch(rows[0]))
        ((4, 6), True)
    """

    def __init__(self, space: Space) -> None:
        self.space = space
        decisions = list(space.decisions.values())
        self.sizes = np.array([d.size() for d in decisions], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)[:-1]]).astype(np.int64)
        self.width = int(self.sizes.sum()) + 1  # one-hot columns and a bias column
        # raw codes of Space.decode: a choice's index, an int range's value
        self.scale = np.array([d.step if isinstance(d, IntRange) else 1 for d in decisions])
        self.shift = np.array([d.low if isinstance(d, IntRange) else 0 for d in decisions])
        radix = np.cumprod(np.concatenate([[1], self.sizes[:-1]]))
        self.radix = radix.astype(np.int64)

    @staticmethod
    def supports(space: Space) -> bool:
        """True when every decision is a choice or an int range and a row fits an int64 key."""
        decisions = [d for d in space.decisions.values() if isinstance(d, Choice | IntRange)]
        if not decisions or len(decisions) < len(space.decisions):
            return False
        return math.prod(d.size() for d in decisions) < 2**62

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``(n, decisions)`` indices, each uniform over its decision's values."""
        return rng.integers(0, self.sizes, size=(n, len(self.sizes)))

    def keys(self, rows: np.ndarray) -> np.ndarray:
        """One int64 per row: equal keys are equal decisions."""
        return rows @ self.radix

    def onehot(self, rows: np.ndarray) -> np.ndarray:
        x = np.zeros((len(rows), self.width))
        x[np.arange(len(rows))[:, None], rows + self.offsets] = 1.0
        x[:, -1] = 1.0
        return x

    def score(self, rows: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """``onehot(rows) @ weights`` without building the one-hot matrix."""
        return weights[rows + self.offsets].sum(axis=1) + weights[-1]

    def arch(self, row: np.ndarray) -> Arch:
        return self.space.decode(row * self.scale + self.shift)


@dataclass
class Block:
    """Consecutive candidates of the stream: their positions, and either their decision
    rows (drawn) or their archs (enumerated, or sampled from a space with float decisions)."""

    indices: np.ndarray
    rows: np.ndarray | None = None
    archs: list[Arch] | None = None

    def __len__(self) -> int:
        return len(self.indices)

    def take(self, keep: np.ndarray | slice) -> Block:
        archs = None
        if self.archs is not None:
            picked = np.arange(len(self))[keep]
            archs = [self.archs[i] for i in picked.tolist()]
        rows = self.rows[keep] if self.rows is not None else None
        return Block(self.indices[keep], rows, archs)


class FirstPass:
    """Ridge regression from the one-hot decisions to the model's score: fitted on the first
    ``calibration`` distinct candidates (all scored by the model too), it keeps the best
    ``survivors`` of the rest for the model."""

    def __init__(
        self, space: Space, draws: DecisionDraws | None, survivors: int, calibration: int,
        auto: bool,
    ) -> None:  # fmt: skip
        self.space, self.draws = space, draws
        self.survivors, self.calibration, self.auto = survivors, max(16, calibration), auto
        self.best: list[tuple[float, int, Any]] = []  # (score, -index, row or arch)
        self.weights: np.ndarray | None = None
        self.spearman = float("nan")
        self.seconds = 0.0
        self.scored = 0

    @property
    def calibrated(self) -> bool:
        return self.weights is not None

    def features(self, block: Block) -> np.ndarray:
        if block.rows is not None:
            assert self.draws is not None  # drawn blocks come with their draws
            return self.draws.onehot(block.rows)
        assert block.archs is not None
        return np.stack([np.append(self.space.encode(a, onehot=True), 1.0) for a in block.archs])

    def fit(self, x: np.ndarray, y: np.ndarray) -> None:
        """Fit on the calibration candidates; the held-out half gives the reported Spearman."""
        t = time.perf_counter()
        half = len(y) // 2
        self.spearman = _spearman(x[half:] @ _ridge(x[:half], y[:half]), y[half:])
        self.weights = _ridge(x, y)
        self.seconds += time.perf_counter() - t

    def add(self, block: Block) -> None:
        """Score a block of distinct candidates; keep the best ``survivors`` so far."""
        if not len(block):
            return
        t = time.perf_counter()
        assert self.weights is not None
        if block.rows is not None and self.draws is not None:
            scores = self.draws.score(block.rows, self.weights)
        else:
            scores = self.features(block) @ self.weights
        self.scored += len(block)
        # the block's best, then the best of those and the survivors so far (ties: first met)
        keep = np.argsort(-scores, kind="stable")[: self.survivors]
        if block.rows is not None:  # copies: a view would keep the whole block alive
            payload: Any = [row.copy() for row in block.rows[keep]]
        else:
            assert block.archs is not None
            payload = [block.archs[j] for j in keep.tolist()]
        merged = self.best + [
            (float(scores[j]), -int(block.indices[j]), payload[i])
            for i, j in enumerate(keep.tolist())
        ]
        merged.sort(key=lambda item: (-item[0], -item[1]))
        self.best = merged[: self.survivors]
        self.seconds += time.perf_counter() - t

    def report(self) -> dict[str, Any]:
        return {
            "scorer": FIRST_PASS_SCORER,
            "auto": self.auto,
            "scored": self.scored,
            "survivors": self.survivors,
            "calibration": self.calibration,
            "calibration_spearman": self.spearman,
        }


def _ridge(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    gram = x.T @ x + 1e-3 * len(y) * np.eye(x.shape[1])
    return np.linalg.solve(gram, x.T @ y)


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 3:
        return float("nan")
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])

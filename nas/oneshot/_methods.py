"""Training a supernet and deriving an arch: DARTS (first order), beta-DARTS and SPOS.

Every method trains the weights of one :class:`~nas.oneshot.Supernet` on the dataset's
training split and selects on its validation split only (the test split is reported):

- ``darts`` / ``beta_darts``: every step first updates the architecture parameters (Adam) on
  a batch of the second half of the training split, then the weights (SGD, cosine) on a batch
  of the first half, through the softmax-weighted sum of every candidate (first-order DARTS:
  no unrolled step). beta-DARTS adds ``lambda_t * mean_k logsumexp(alpha_k)`` to the
  architecture loss, ``lambda_t`` rising linearly from 0 to ``beta_weight``. The derived
  arch takes the argmax of each decision's parameters, ``none`` included, as on NB-201.
- ``spos``: every step trains one uniformly sampled path on the whole training split; then
  regularized evolution (``nas.search``'s ``rea``) searches the trained supernet, each arch
  scored by its inherited validation accuracy.

An inherited accuracy is measured on one path after re-estimating that path's batch-norm
statistics on training batches (SPOS's BN recalibration), in eval mode.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from numbers import Integral, Real
from typing import Any

import numpy as np
import torch
from torch import nn

from nas.data import Dataset
from nas.oneshot import METHODS
from nas.oneshot._supernet import OneShotError, Supernet
from nas.space import Arch, Space
from nas.train import Recipe, RecipeError

__all__ = ["OneShotConfig", "OneShotResult", "Scorer", "inherited_accuracy", "search"]


#: Options that train the supernet's weights, checked as a training recipe's keys.
_RECIPE_FIELDS = ("epochs", "batch_size", "lr", "momentum", "weight_decay", "grad_clip")
#: The one-shot options that count something (ints >= 1).
_COUNTS = ("bn_batches", "population_size", "sample_size", "evaluations")
#: The other numeric options (finite, >= 0) and whether 0 is refused too.
_NUMBERS = (("arch_lr", True), ("arch_weight_decay", False), ("beta_weight", False))


@dataclass(frozen=True)
class OneShotConfig:
    """Hyper-parameters of a one-shot search (DARTS' NB-201 settings, except ``arch_lr``).

    Attributes:
        epochs: supernet training epochs (the budget of ``nas search --strategy darts``).
        batch_size: training batch size (DARTS: 64 per half).
        lr, momentum, weight_decay, grad_clip: SGD of the weights, cosine-annealed to 0
            (``grad_clip=None``: no clipping).
        arch_lr, arch_weight_decay: Adam (betas 0.5, 0.999) of the architecture parameters;
            ``arch_lr`` is 10x DARTS' 3e-4 because a small dataset gives ~100x fewer steps.
        beta_weight: beta-DARTS' final regularisation weight (linear ramp from 0).
        bn_batches: training batches that re-estimate BN statistics before an inherited score.
        population_size, sample_size, evaluations: SPOS's evolutionary search.
        fixed: values of decisions the supernet does not search.
    """

    epochs: int = 30
    batch_size: int = 64
    lr: float = 0.025
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float | None = 5.0
    arch_lr: float = 3e-3
    arch_weight_decay: float = 1e-3
    beta_weight: float = 2.0
    bn_batches: int = 4
    population_size: int = 20
    sample_size: int = 5
    evaluations: int = 100
    fixed: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> OneShotConfig:
        """Build from keyword options; an unknown one is one error line naming the known ones."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise OneShotError(
                f"Unknown one-shot option {unknown[0]!r}; the options are {', '.join(sorted(known))}."
            )
        return cls(**dict(options))

    def __post_init__(self) -> None:
        # The supernet's weights train like any candidate: their options obey the recipe's
        # rules (and its coercions, e.g. numpy scalars from a sampler), said once in nas.train.
        try:
            recipe = Recipe.from_mapping({k: getattr(self, k) for k in _RECIPE_FIELDS})
        except RecipeError as err:
            raise OneShotError(str(err).replace("recipe key", "one-shot option")) from None
        for name in _RECIPE_FIELDS:
            object.__setattr__(self, name, getattr(recipe, name))
        for name in _COUNTS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
                raise OneShotError(
                    f"Expected an int >= 1 for one-shot option {name!r} (got {value!r})."
                )
            object.__setattr__(self, name, int(value))
        for name, positive in _NUMBERS:
            value = getattr(self, name)
            ok = not isinstance(value, bool) and isinstance(value, Real) and math.isfinite(value)
            if not ok or value < 0 or (positive and value == 0):
                raise OneShotError(
                    f"Expected a finite number {'>' if positive else '>='} 0 for one-shot option "
                    f"{name!r} (got {value!r})."
                )
            object.__setattr__(self, name, float(value))
        if not isinstance(self.fixed, Mapping):
            raise OneShotError(
                f"Expected a mapping of decision -> value for one-shot option 'fixed' "
                f"(got {self.fixed!r})."
            )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "fixed": dict(self.fixed)}


@dataclass(frozen=True)
class OneShotResult:
    """What a one-shot search found.

    Attributes:
        method: ``darts``, ``beta_darts`` or ``spos``.
        arch: the derived arch, an ordinary arch of the space.
        val_accuracy, test_accuracy: its accuracy (percent) with the supernet's weights.
        trajectory: one entry per epoch: ``train_loss`` and, for the DARTS family, ``probs``
            (each decision's softmaxed architecture parameters, in label order).
        evolution: SPOS only: the best inherited validation accuracy after each evaluation.
        seconds: wall time of the search (training and deriving).
        supernet: the trained supernet.
    """

    method: str
    arch: Arch
    val_accuracy: float
    test_accuracy: float
    trajectory: list[dict[str, Any]]
    evolution: list[float]
    seconds: float
    supernet: Supernet = field(repr=False)


class _Batches:
    """Shuffled index batches over tensors held on the device (drops the last partial one)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, seed: int) -> None:
        self.x, self.y = x, y
        self.batch_size = min(batch_size, len(y))
        self.gen = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return len(self.y) // self.batch_size

    def epoch(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        order = torch.randperm(len(self.y), generator=self.gen).to(self.x.device)
        b = self.batch_size
        return [
            (self.x[order[i : i + b]], self.y[order[i : i + b]]) for i in range(0, len(self) * b, b)
        ]


def _tensors(split: Any, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.tensor(split.x, device=device), torch.tensor(split.y, device=device)


def search(
    space: Space,
    data: Dataset,
    method: str,
    *,
    config: OneShotConfig | None = None,
    seed: int = 0,
    device: str | torch.device = "auto",
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> OneShotResult:
    """Train a supernet of ``space`` on ``data`` with ``method`` and derive an arch.

    Example:
        >>> from nas.data import get_dataset
        >>> from nas.space import get_space
        >>> data = get_dataset("synthetic", length=40, num_classes=10, num_train=200, num_test=50)
        >>> config = OneShotConfig(epochs=1, evaluations=2, population_size=2, sample_size=2)
        >>> out = search(get_space("nb201_1d"), data, "spos", config=config, device="cpu")
        >>> out.arch.space, len(out.trajectory)
        ('nb201_1d', 1)
    """
    from nas.train import resolve_device

    check_method(method)
    if len(data.train) < 2 or len(data.val) == 0:
        raise OneShotError(
            f"Dataset {data.name!r} has {len(data.train)} training and {len(data.val)} "
            f"validation samples; a one-shot search needs at least 2 and 1 (it trains on the "
            f"first and selects on the second)."
        )
    if tuple(data.input_shape) != tuple(space.input_shape):
        raise OneShotError(
            f"Dataset {data.name!r} has samples of shape {data.input_shape}, space "
            f"{space.name!r} expects {space.input_shape}; pick a matching space or dataset."
        )
    config = config or OneShotConfig()
    dev = resolve_device(device)
    start = time.perf_counter()
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        torch.manual_seed(seed)
        net = Supernet(space, config.fixed).to(dev)
        train = _tensors(data.train, dev)
        if method == "spos":
            trajectory = _train_spos(net, train, config, seed, on_epoch)
            arch, evolution = _evolve(net, Scorer(net, data, config, seed), config, seed)
        else:
            trajectory, alphas = _train_darts(net, train, config, seed, method, on_epoch)
            arch = net.arch({k: net.labels[k][int(a.argmax())] for k, a in zip(net.keys, alphas)})
            evolution = []
        score = Scorer(net, data, config, seed)
        val, test = score(arch, "val"), score(arch, "test")
    seconds = time.perf_counter() - start
    return OneShotResult(method, arch, val, test, trajectory, evolution, seconds, net)


def check_method(method: str) -> None:
    """Raise one :class:`OneShotError` line unless ``method`` is one of :data:`METHODS`."""
    if method not in METHODS:
        raise OneShotError(f"Unknown one-shot method {method!r}; use one of {', '.join(METHODS)}.")


def _sgd(params: Any, config: OneShotConfig, steps: int) -> tuple[Any, Any]:
    opt = torch.optim.SGD(
        params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
    )
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, steps))
    return opt, sched


def _step(net: Supernet, opt: Any, loss: torch.Tensor, config: OneShotConfig) -> None:
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if config.grad_clip is not None:
        nn.utils.clip_grad_norm_(net.parameters(), config.grad_clip)
    opt.step()


def _train_spos(
    net: Supernet,
    train: tuple[torch.Tensor, torch.Tensor],
    config: OneShotConfig,
    seed: int,
    on_epoch: Callable[[dict[str, Any]], None] | None,
) -> list[dict[str, Any]]:
    batches = _Batches(*train, config.batch_size, seed)
    opt, sched = _sgd(net.parameters(), config, config.epochs * len(batches))
    rng = np.random.default_rng(seed)
    trajectory: list[dict[str, Any]] = []
    for epoch in range(config.epochs):
        net.train()
        losses = []
        for x, y in batches.epoch():
            path = {k: net.labels[k][int(rng.integers(len(net.labels[k])))] for k in net.keys}
            loss = nn.functional.cross_entropy(net(x, path=path), y)
            _step(net, opt, loss, config)
            sched.step()
            losses.append(float(loss.detach()))
        trajectory.append({"epoch": epoch + 1, "train_loss": _mean(losses)})
        if on_epoch is not None:
            on_epoch(trajectory[-1])
    return trajectory


def _train_darts(
    net: Supernet,
    train: tuple[torch.Tensor, torch.Tensor],
    config: OneShotConfig,
    seed: int,
    method: str,
    on_epoch: Callable[[dict[str, Any]], None] | None,
) -> tuple[list[dict[str, Any]], list[nn.Parameter]]:
    x, y = train
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed)).to(x.device)
    half = len(y) // 2  # weights learn on one half, architecture parameters on the other
    w_batches = _Batches(x[order[:half]], y[order[:half]], config.batch_size, seed)
    a_batches = _Batches(x[order[half:]], y[order[half:]], config.batch_size, seed + 1)
    device = x.device
    alphas = [nn.Parameter(1e-3 * torch.randn(len(net.labels[k])).to(device)) for k in net.keys]
    opt, sched = _sgd(net.parameters(), config, config.epochs * len(w_batches))
    arch_opt = torch.optim.Adam(
        alphas, lr=config.arch_lr, betas=(0.5, 0.999), weight_decay=config.arch_weight_decay
    )
    trajectory: list[dict[str, Any]] = []
    for epoch in range(config.epochs):
        net.train()
        beta = (
            config.beta_weight * epoch / max(1, config.epochs - 1)
            if method == "beta_darts"
            else 0.0
        )
        losses = []
        for (xw, yw), (xa, ya) in zip(w_batches.epoch(), a_batches.epoch()):
            probs = {k: torch.softmax(a, dim=0) for k, a in zip(net.keys, alphas)}
            arch_loss = nn.functional.cross_entropy(net(xa, weights=probs), ya)
            if beta:
                arch_loss = (
                    arch_loss
                    + beta * torch.stack([torch.logsumexp(a, dim=0) for a in alphas]).mean()
                )
            arch_opt.zero_grad(set_to_none=True)
            net.zero_grad(set_to_none=True)
            arch_loss.backward()
            arch_opt.step()
            fixed = {k: torch.softmax(a.detach(), dim=0) for k, a in zip(net.keys, alphas)}
            loss = nn.functional.cross_entropy(net(xw, weights=fixed), yw)
            _step(net, opt, loss, config)
            sched.step()
            losses.append(float(loss.detach()))
        entry = {
            "epoch": epoch + 1,
            "train_loss": _mean(losses),
            "probs": {
                k: [round(float(p), 5) for p in torch.softmax(a.detach(), 0)]
                for k, a in zip(net.keys, alphas)
            },
        }
        trajectory.append(entry)
        if on_epoch is not None:
            on_epoch(entry)
    return trajectory, alphas


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else math.nan


def inherited_accuracy(
    net: Supernet,
    arch: Arch | Mapping[str, Any],
    data: Dataset,
    split: str = "val",
    *,
    config: OneShotConfig | None = None,
    seed: int = 0,
) -> float:
    """Accuracy (percent) of ``arch``'s path with the supernet's weights on ``split``.

    The path's batch-norm statistics are first re-estimated on ``config.bn_batches`` training
    batches (cumulative averages), then the path runs in eval mode.
    """
    return Scorer(net, data, config or OneShotConfig(), seed)(arch, split)


class Scorer:
    """Inherited accuracies of many archs on one supernet (the data moved to its device once)."""

    def __init__(self, net: Supernet, data: Dataset, config: OneShotConfig, seed: int) -> None:
        device = next(net.parameters()).device
        self.net, self.config, self.seed = net, config, seed
        self.train = _tensors(data.train, device)
        self.splits = {"val": _tensors(data.val, device), "test": _tensors(data.test, device)}
        self.norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]

    @torch.no_grad()
    def __call__(self, arch: Arch | Mapping[str, Any], split: str = "val") -> float:
        if split not in self.splits:
            raise OneShotError(f"Expected split 'val' or 'test' (got {split!r}).")
        net, path = self.net, arch.values if isinstance(arch, Arch) else arch
        momenta = [m.momentum for m in self.norms]
        for m in self.norms:
            m.reset_running_stats()
            m.momentum = None  # a cumulative average over the recalibration batches
        x_train, _ = self.train
        gen = torch.Generator().manual_seed(self.seed)
        size = min(len(x_train), 2 * self.config.batch_size)
        net.train()
        for _ in range(self.config.bn_batches):
            index = torch.randperm(len(x_train), generator=gen)[:size].to(x_train.device)
            net(x_train[index], path=path)
        for m, momentum in zip(self.norms, momenta):
            m.momentum = momentum
        net.eval()
        x, y = self.splits[split]
        correct = 0
        for i in range(0, len(y), 512):
            correct += int((net(x[i : i + 512], path=path).argmax(1) == y[i : i + 512]).sum())
        return 100.0 * correct / max(1, len(y))


def _evolve(
    net: Supernet, score: Scorer, config: OneShotConfig, seed: int
) -> tuple[Arch, list[float]]:
    """Regularized evolution over the trained supernet (``nas.search``'s ``rea``)."""
    from nas.search import get_strategy

    strategy = get_strategy(
        "rea",
        net.space,
        seed=seed,
        population_size=config.population_size,
        sample_size=config.sample_size,
    )
    best: list[float] = []
    for _ in range(config.evaluations):
        asked = strategy.ask(1)
        if not asked:
            break
        labels = {k: asked[0].arch[k] for k in net.keys}
        value = score(labels, "val")
        strategy.tell(asked[0].candidate_id, {"val_accuracy": value})
        best.append(max(value, best[-1]) if best else value)
    found = strategy.best()
    if found is None:
        raise OneShotError("The evolutionary search over the supernet scored no arch.")
    return net.arch({k: found[0].arch[k] for k in net.keys}), best

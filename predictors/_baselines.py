"""Baselines in the predictor harness: size counts, zero-cost proxies, an encoding regressor.

Zero-cost proxies run on the compiled torch module with one batch. CIFAR images are not
available offline, so each proxy comes in two kinds: fed a random-normal batch of the graph's
input shape (the ``ZC_PROXIES`` names), or, for RGB inputs, crops of the photos scikit-learn
ships (the ``PHOTO_PROXIES`` names, ``nwot_photo``, ...; see :func:`photo_batch`). Labels are
random either way, so gradient-based proxies (snip, grad_norm) see another loss landscape than
their papers'.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from nas.graph import Graph

__all__ = [
    "ALL_PROXIES",
    "PHOTO_PROXIES",
    "ZC_PROXIES",
    "EncodingRegressor",
    "ProxyCache",
    "graph_proxy_scores",
    "photo_batch",
    "random_batch",
    "zero_cost_scores",
]

ZC_PROXIES = ("synflow", "synflow_bn", "nwot", "jacov", "snip", "grad_norm")
#: The proxies that read the input's statistics, fed crops of photos instead of noise (see
#: photo_batch). synflow reads an all-ones input; snip and grad_norm are a loss on random
#: labels either way (on 300 NB-201 archs 0.43 with photos against 0.45 with noise).
PHOTO_PROXIES = ("synflow_bn_photo", "nwot_photo", "jacov_photo")
#: Every proxy name a predictor or the harness accepts.
ALL_PROXIES = ZC_PROXIES + PHOTO_PROXIES
_PHOTO = "_photo"
_PHOTO_DOWNSCALE = 6  # photos shrunk 6x by area averaging before cropping (see photo_batch)


def random_batch(
    input_shape: Sequence[int], num_classes: int, *, batch_size: int = 32, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """A random-normal batch ``(batch, *input_shape)`` with random labels (no data download)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch_size, *input_shape, generator=g)
    y = torch.randint(0, num_classes, (batch_size,), generator=g)
    return x, y


def photo_batch(
    input_shape: Sequence[int], num_classes: int, *, batch_size: int = 16, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Crops of the two photos scikit-learn ships (``sklearn.datasets.load_sample_images``:
    china.jpg and flower.jpg, 427x640 RGB; nothing is downloaded), shrunk 6x by area
    averaging (so a 32x32 crop spans about half the scene's height, as a CIFAR image does),
    taken in turn at random places, standardized per channel over the batch, with the labels
    of :func:`random_batch`. Natural-image statistics are what the data-dependent proxies were
    designed on: on 250 NB-201 archs of the GATES pool half (one per graph_hash class), the
    Kendall tau with the 200-epoch CIFAR-10 accuracy goes from noise to photos as NWOT 0.54 ->
    0.61, jacov 0.51 -> 0.56, synflow_bn 0.59 -> 0.61 (the shrink factor was chosen among
    1, 2, 4 and 6 there).

    Raises:
        ValueError: ``input_shape`` is not ``(3, H, W)`` with H and W at most 71x106.
    """
    shape = tuple(int(d) for d in input_shape)
    images = _photos()
    h_max, w_max = (min(int(im.shape[d]) for im in images) for d in (1, 2))
    if len(shape) != 3 or shape[0] != 3 or shape[1] > h_max or shape[2] > w_max:
        raise ValueError(
            f"Photo batches are RGB crops of at most {h_max}x{w_max}; got input shape {shape}."
        )
    rng = np.random.default_rng(seed)
    crops = []
    for k in range(batch_size):
        im = images[k % len(images)]
        i = int(rng.integers(0, im.shape[1] - shape[1] + 1))
        j = int(rng.integers(0, im.shape[2] - shape[2] + 1))
        crops.append(im[:, i : i + shape[1], j : j + shape[2]])
    x = torch.stack(crops)
    x = (x - x.mean((0, 2, 3), keepdim=True)) / x.std((0, 2, 3), keepdim=True).clamp_min(1e-6)
    return x, random_batch(shape, num_classes, batch_size=batch_size, seed=seed)[1]


@functools.cache
def _photos() -> tuple[torch.Tensor, ...]:
    """scikit-learn's sample photos as ``(3, H, W)`` floats in [0, 1], shrunk, loaded once."""
    from sklearn.datasets import load_sample_images

    out = []
    for im in load_sample_images().images:
        t = torch.from_numpy(np.asarray(im, dtype=np.float32) / 255.0).permute(2, 0, 1)
        t = nn.functional.interpolate(t[None], scale_factor=1.0 / _PHOTO_DOWNSCALE, mode="area")
        out.append(t[0].contiguous())
    return tuple(out)


def _relu_codes(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Binary ReLU activation codes ``(batch, units)``; relu is an fx call, so the traced
    graph gets a recording call after each one (a copy: ``module`` is left as it was)."""
    import torch.fx

    codes: list[torch.Tensor] = []

    def record(out: object) -> None:
        if isinstance(out, torch.Tensor):
            codes.append((out.detach() > 0).flatten(1).float())

    if not isinstance(module, torch.fx.GraphModule):
        module = torch.fx.symbolic_trace(module)
    graph = torch.fx.Graph()
    copies: dict[torch.fx.Node, torch.fx.Node] = {}
    result = graph.graph_copy(module.graph, copies)
    for old, new in copies.items():
        name = getattr(old.target, "__name__", str(old.target))
        if old.op in ("call_function", "call_method", "call_module") and "relu" in name:
            with graph.inserting_after(new):
                graph.call_function(record, (new,))
    graph.output(result)
    torch.fx.GraphModule(module, graph)(x)
    return torch.cat(codes, dim=1) if codes else x.new_zeros(len(x), 1)


def _nwot(module: nn.Module, x: torch.Tensor) -> float:
    c = _relu_codes(module, x)  # (batch, units) of 0/1
    # the Hamming-similarity kernel c c^T + (1-c)(1-c)^T as 2 c c^T - s_i - s_j + units:
    # integer counts, exact in float32 below 2**24 units, then slogdet in float64
    if c.shape[1] >= 2**24:
        c = c.double()
    s = c.sum(1).double()
    k = 2 * (c @ c.T).double() - s[:, None] - s[None, :] + c.shape[1]  # (batch, batch)
    return float(torch.linalg.slogdet(k)[1])


def _jacov(module: nn.Module, x: torch.Tensor) -> float:
    x = x.clone().requires_grad_(True)
    module.zero_grad()
    module(x).sum().backward()
    if x.grad is None:  # the output ignores the input (e.g. an all-"none" NB-201 cell)
        return math.nan
    jac = x.grad.flatten(1).double()  # (batch, inputs)
    corr = torch.corrcoef(jac)
    eig = torch.linalg.eigvalsh(torch.nan_to_num(corr))
    return float(-torch.sum(torch.log(eig.clamp_min(0) + 1e-5) + 1.0 / (eig.clamp_min(0) + 1e-5)))


def _synflow(module: nn.Module, x: torch.Tensor) -> float:
    module = module.double()
    signs = {}
    with torch.no_grad():
        for name, p in module.state_dict().items():
            signs[name] = torch.sign(p)
            p.abs_()
    module.zero_grad()
    module(torch.ones_like(x[:1], dtype=torch.float64)).sum().backward()
    score = sum(
        float((p * p.grad).detach().sum()) for p in module.parameters() if p.grad is not None
    )
    with torch.no_grad():
        for name, p in module.state_dict().items():
            p.mul_(signs[name])
    module.float()
    return score


def _calibrate_bn(module: nn.Module, x: torch.Tensor) -> None:
    """Set every BatchNorm's running mean and variance to those of batch ``x``."""
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average: after one batch, exactly its statistics
    module.train()
    with torch.no_grad():
        module(x)
    for m, momentum in zip(norms, saved):
        m.momentum = momentum


def _grad_scores(module: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    module.zero_grad()
    nn.functional.cross_entropy(module(x), y).backward()
    snip = grad_norm = 0.0
    for p in module.parameters():
        if p.grad is not None:
            snip += float((p.grad * p).detach().abs().sum())
            grad_norm += float(p.grad.norm())
    return snip, grad_norm


def zero_cost_scores(
    module: nn.Module, batch: tuple[torch.Tensor, torch.Tensor], proxies: Sequence[str] = ZC_PROXIES
) -> dict[str, float]:
    """Zero-cost proxy scores of one freshly initialized module (higher = predicted better).

    Example:
        >>> from nas.space import get_space
        >>> import numpy as np
        >>> space = get_space("mlp")
        >>> m = space.to_torch(space.sample(np.random.default_rng(0)))
        >>> s = zero_cost_scores(m, random_batch(space.input_shape, 10, batch_size=8))
        >>> sorted(s) == sorted(ZC_PROXIES)
        True
    """
    x, y = batch
    out: dict[str, float] = {}
    if "synflow" in proxies:
        # first: data-free, in eval mode so BN must not normalize the all-ones input away,
        # and before any train-mode pass moves BN's running statistics (which eval mode
        # reads), so each proxy's score is the same whichever others are asked for
        module.eval()
        out["synflow"] = _synflow(module, x)
    if "synflow_bn" in proxies:
        # synflow once BN's running statistics are the batch's: the eval-mode pass then
        # divides each layer by its activations' real scale instead of by 1
        _calibrate_bn(module, x)
        module.eval()
        out["synflow_bn"] = _synflow(module, x)
    module.train()  # BN in batch-statistics mode, as the proxies' papers do
    if "nwot" in proxies:
        with torch.no_grad():
            out["nwot"] = _nwot(module, x)
    if "jacov" in proxies:
        out["jacov"] = _jacov(module, x)
    if "snip" in proxies or "grad_norm" in proxies:
        snip, gn = _grad_scores(module, x, y)
        if "snip" in proxies:
            out["snip"] = snip
        if "grad_norm" in proxies:
            out["grad_norm"] = gn
    return {p: out[p] for p in proxies if p in out}


def graph_proxy_scores(
    graph: Graph, proxies: Sequence[str], *, cache: ProxyCache | None = None
) -> np.ndarray:
    """Zero-cost proxy scores of an IR graph, as predictor inputs: ``(len(proxies),)``.

    The graph is lowered to torch with weights drawn from a fixed seed (the caller's torch
    random state is left as it was) and fed one random-normal batch of 16 of its input shape
    (labels over its output size). ``synflow_bn`` is synflow after one train-mode pass of that
    batch has set BN's running statistics. Synflow and snip (products over many layers) are taken as
    ``log1p``. A proxy that cannot be computed for the graph (several or non-float inputs, a
    lowering error, a non-finite score such as NWOT on a net without ReLUs) is NaN, which a
    predictor reads as the training graphs' mean. Each proxy's score is the same whichever
    others are asked for, so a :class:`ProxyCache` may keep them one by one.

    Example:
        >>> from nas.space import get_space
        >>> space = get_space("mlp")
        >>> graph_proxy_scores(space.compile(space.sample(np.random.default_rng(0))), ["synflow"]).shape
        (1,)
    """
    from nas.predictors._errors import PredictorError

    unknown = sorted(set(proxies) - set(ALL_PROXIES))
    if unknown:
        raise PredictorError(
            f"Unknown zero-cost proxy {unknown[0]!r}; use some of {', '.join(ALL_PROXIES)}."
        )
    if cache is None or len(graph.inputs) != 1:
        return _score_graph(graph, proxies)
    return cache.scores(graph, proxies)


def _score_graph(graph: Graph, proxies: Sequence[str]) -> np.ndarray:
    from nas.graph import to_torch

    out = np.full(len(proxies), np.nan)
    if len(graph.inputs) != 1 or not proxies:
        return out
    shape, classes = _shape_and_classes(graph)
    scores: dict[str, float] = {}
    try:
        with torch.random.fork_rng():
            torch.manual_seed(0)
            module = to_torch(graph)  # one set of weights for either batch
            for suffix, make_batch in (("", random_batch), (_PHOTO, photo_batch)):
                wanted = {
                    p.removesuffix(suffix) for p in proxies if p.endswith(_PHOTO) == bool(suffix)
                }
                if not wanted:
                    continue
                try:
                    batch = make_batch(shape, classes, batch_size=16, seed=0)
                except ValueError:
                    continue  # no photo crop fits this input: the photo proxies are undefined
                for group in _PASSES:  # synflow first (see zero_cost_scores)
                    asked = [p for p in group if p in wanted]
                    if asked:  # each pass draws dropout masks from the
                        torch.manual_seed(1)  # same state: a score does not depend on the others
                        found = zero_cost_scores(module, batch, asked)
                        scores.update({p + suffix: v for p, v in found.items()})
    except (RuntimeError, ValueError, TypeError, NotImplementedError):
        pass  # e.g. an integer token input: the proxies not scored yet are undefined (NaN)
    for i, name in enumerate(proxies):
        s = scores.get(name, math.nan)
        if name.removesuffix(_PHOTO) in ("synflow", "synflow_bn", "snip") and s >= 0:
            s = math.log1p(s)
        out[i] = s if math.isfinite(s) else math.nan
    return out


_PASSES = (("synflow",), ("synflow_bn",), ("nwot",), ("jacov",), ("snip", "grad_norm"))


def _shape_and_classes(graph: Graph) -> tuple[tuple[int, ...], int]:
    shape = tuple(graph.node(graph.inputs[0]).shape)
    classes = int(math.prod(graph.node(graph.outputs[0]).shape)) if graph.outputs else 1
    return shape, max(classes, 1)


#: Bump when a proxy's definition changes (batch, init seed, transform, order of passes):
#: cache files of another version are never read.
PROXY_CACHE_VERSION = 1


@dataclass
class ProxyCache:
    """Zero-cost proxy scores kept by ``graph_hash``, proxy, input shape and class count.

    A proxy's score is fixed per graph (fixed init seed, fixed synthetic batch), so the cache
    is an optimization only: a hit returns the value :func:`graph_proxy_scores` would compute.
    Isomorphic graphs (one ``graph_hash``) share the score of the first one scored: lowering
    two isomorphic copies may draw their random weights in another order. With ``root``,
    scores also live on disk, one text file per (proxy, input shape, classes, cache version,
    torch version) of ``graph_hash<TAB>score`` lines (``repr`` floats, exact round trip),
    appended as they are computed, so later runs and other processes reuse them.

    Example:
        >>> from nas.space import get_space
        >>> space = get_space("mlp"); g = space.compile(space.sample(np.random.default_rng(0)))
        >>> cache = ProxyCache()
        >>> a = graph_proxy_scores(g, ["synflow"], cache=cache)
        >>> bool((graph_proxy_scores(g, ["synflow"]) == a).all()), cache.computed
        (True, 1)
    """

    root: Path | None = None
    computed: int = 0  # graphs scored because some proxy missed
    _tables: dict[str, dict[str, float]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.root is not None:
            self.root = Path(os.path.expanduser(str(self.root)))
            self.root.mkdir(parents=True, exist_ok=True)

    def _name(self, proxy: str, shape: tuple[int, ...], classes: int) -> str:
        torch_version = torch.__version__.split("+")[0]
        dims = "x".join(map(str, shape))
        return f"v{PROXY_CACHE_VERSION}-torch{torch_version}-{proxy}-in{dims}-out{classes}.tsv"

    def _table(self, name: str) -> dict[str, float]:
        table = self._tables.get(name)
        if table is None:
            table = self._tables[name] = {}
            if self.root is not None and (self.root / name).exists():
                for line in (self.root / name).read_text().splitlines():
                    key, _, value = line.partition("\t")
                    if value:  # a line cut short by a killed writer is skipped
                        table[key] = float(value)
        return table

    def scores(self, graph: Graph, proxies: Sequence[str]) -> np.ndarray:
        """The scores of ``graph`` (one input), computing only the proxies not yet kept."""
        from nas.graph import graph_hash

        key = graph_hash(graph)
        shape, classes = _shape_and_classes(graph)
        names = {p: self._name(p, shape, classes) for p in proxies}
        missing = [p for p in proxies if key not in self._table(names[p])]
        if missing:
            self.computed += 1
            fresh = _score_graph(graph, missing)
            for p, value in zip(missing, fresh):
                self._table(names[p])[key] = float(value)
                if self.root is not None:
                    with open(self.root / names[p], "a") as f:
                        f.write(f"{key}\t{float(value)!r}\n")
        return np.array([self._table(names[p])[key] for p in proxies], dtype=np.float64)


def size_scores(graphs: Sequence[Graph]) -> dict[str, np.ndarray]:
    """The trivial baselines: params and FLOPs of each graph."""
    return {
        "params": np.array([g.params for g in graphs], dtype=float),
        "flops": np.array([g.flops for g in graphs], dtype=float),
    }


@dataclass
class EncodingRegressor:
    """A regressor on the DSL's one-hot arch encoding (``space.encode(arch, onehot=True)``).

    Args:
        kind: ``"gbr"`` (gradient boosting), ``"rf"`` (random forest) or ``"mlp"``.
        seed: Random state of the sklearn model.

    Example:
        >>> import numpy as np
        >>> r = EncodingRegressor("rf").fit(np.eye(4), np.arange(4.0))
        >>> r.predict(np.eye(4)).shape
        (4,)
    """

    kind: str = "gbr"
    seed: int = 0

    def __post_init__(self) -> None:
        from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor
        from sklearn.neural_network import MLPRegressor

        makers = {
            "gbr": lambda: GradientBoostingRegressor(
                n_estimators=200, max_depth=3, random_state=self.seed
            ),
            "rf": lambda: RandomForestRegressor(n_estimators=200, random_state=self.seed),
            "mlp": lambda: MLPRegressor(
                hidden_layer_sizes=(64, 64), max_iter=2000, random_state=self.seed
            ),
        }
        if self.kind not in makers:
            from nas.predictors._errors import PredictorError

            raise PredictorError(
                f"Unknown encoding regressor {self.kind!r}; expected one of {sorted(makers)}."
            )
        self.model = makers[self.kind]()

    def fit(self, x: np.ndarray, y: np.ndarray) -> EncodingRegressor:
        self._mean, self._std = float(np.mean(y)), float(np.std(y) or 1.0)
        self.model.fit(np.asarray(x, float), (np.asarray(y, float) - self._mean) / self._std)
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.model.predict(np.asarray(x, float)) * self._std + self._mean

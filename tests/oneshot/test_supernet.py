"""The supernet with one path fixed is the compiled stand-alone module of that arch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nas.oneshot import OneShotError, Supernet
from nas.space import Choice, IntRange, Op, Repeat, SamePadding, Seq, Space, get_space


def _ops_space() -> Space:
    """Value choices (a kernel size with same padding, an activation) on every block."""
    block = Seq(
        conv=Op("conv1d", out_channels=8, kernel_size=Choice([3, 5]), padding=SamePadding()),
        bn=Op("batch_norm"),
        act=Op(Choice(["relu", "gelu"])),
    )
    body = Seq(
        stem=Op("conv1d", out_channels=8, kernel_size=1),
        blocks=Repeat(block, depth=2),
        pool=Op("global_avg_pool"),
        fc=Op("linear", out_features=3),
    )
    return Space("oneshot_ops", body, input_shape=(1, 16))


SPACES = {"nb201_1d": lambda: get_space("nb201_1d"),
          "nb201_digits": lambda: get_space("nb201_digits"),
          "ops": _ops_space}  # fmt: skip


def _randomize(net: torch.nn.Module, seed: int) -> None:
    """Every parameter and BN statistic away from its initial value, so copying matters."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for t in [*net.parameters(), *net.buffers()]:
            if t.dtype.is_floating_point:
                t.copy_(torch.rand(t.shape, generator=gen) + 0.5)


def _check_same(space: Space, device: str) -> None:
    net = Supernet(space).to(device)
    _randomize(net, 0)
    rng = np.random.default_rng(1)
    x = torch.randn(6, *space.input_shape, generator=torch.Generator().manual_seed(2)).to(device)
    for _ in range(4):
        arch = space.sample(rng)
        alone = net.to_standalone(arch).to(device)
        fresh = space.to_torch(arch).to(device)
        for train in (False, True):
            net.train(train), alone.train(train), fresh.train(train)
            with torch.no_grad():
                ours, theirs = net(x, path=arch), alone(x)
                assert ours.shape == theirs.shape
                torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
                assert not torch.allclose(ours, fresh(x), atol=1e-3)  # the weights were copied


@pytest.mark.parametrize("name", list(SPACES))
def test_fixed_path_equals_compiled_standalone_module(name: str) -> None:
    _check_same(SPACES[name](), "cpu")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", list(SPACES))
def test_fixed_path_equals_standalone_module_on_cuda(name: str) -> None:
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    _check_same(SPACES[name](), "cuda")


def test_one_hot_weights_equal_the_path() -> None:
    space = get_space("nb201_1d")
    net = Supernet(space).eval()
    arch = space.sample(np.random.default_rng(3))
    weights = {
        k: torch.nn.functional.one_hot(
            torch.tensor(net.index(k, arch[k])), len(net.labels[k])
        ).float()
        for k in net.keys
    }
    x = torch.randn(4, 1, 40)
    with torch.no_grad():
        torch.testing.assert_close(net(x, weights=weights), net(x, path=arch))


def test_positions_share_the_cell_decisions() -> None:
    net = Supernet(get_space("nb201"))
    assert net.keys == [f"cell.n{i}_from{j}" for i in range(1, 4) for j in range(i)]
    assert len(net.positions) == 6 * 15  # every edge of the 15 cells has its own weights
    assert {p.key for p in net.positions} == set(net.keys)
    assert net.arch({k: "skip_connect" for k in net.keys}).space == "nb201"


def test_fixed_decisions_are_not_searched() -> None:
    space = _ops_space()
    net = Supernet(space, fixed={"blocks.0.act.op": "gelu"})
    assert "blocks.0.act.op" not in net.keys and len(net.keys) == 3
    assert net.arch({k: net.labels[k][0] for k in net.keys})["blocks.0.act.op"] == "gelu"


def test_non_local_choice_names_the_decision() -> None:
    wide = Seq(Op("conv1d", out_channels=Choice([4, 8]), kernel_size=1), Op("global_avg_pool"))
    with pytest.raises(OneShotError, match=r"'0\.out_channels' is not local.*fixed="):
        Supernet(Space("wide", wide, input_shape=(1, 8)))


def test_conditional_and_numeric_decisions_are_refused() -> None:
    with pytest.raises(OneShotError, match=r"conditional decisions.*fixed="):
        Supernet(get_space("cnn1d"))
    deep = Seq(Repeat(Op("relu"), depth=IntRange(1, 3)), Op("flatten"))
    with pytest.raises(OneShotError, match=r"'0\.depth'.*not a choice"):
        Supernet(Space("deep", deep, input_shape=(4,)))
    with pytest.raises(OneShotError, match="'nope', which is not a decision"):
        Supernet(get_space("nb201_1d"), fixed={"nope": 1})


def test_forward_needs_exactly_one_mode() -> None:
    net = Supernet(get_space("nb201_1d"))
    with pytest.raises(OneShotError, match="exactly one of path= or weights="):
        net(torch.zeros(1, 1, 40))
    with pytest.raises(OneShotError, match="Expected one of"):
        net(torch.zeros(1, 1, 40), path={k: "conv" for k in net.keys})
    partial = {k: net.labels[k][0] for k in net.keys[1:]}
    with pytest.raises(OneShotError, match=f"no value for decision '{net.keys[0]}'; give every"):
        net(torch.zeros(1, 1, 40), path=partial)
    probs = {k: torch.ones(len(net.labels[k])) for k in net.keys[:-1]}
    with pytest.raises(OneShotError, match=f"no weights for decision '{net.keys[-1]}'"):
        net(torch.zeros(1, 1, 40), weights=probs)

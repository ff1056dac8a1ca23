"""The transformer spaces: the encoder space trains through ``nas search``; HAT rows compile."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from nas.graph import to_torch
from nas.search_spaces.transformer import (
    HAT_ENCODER_LAYERS,
    hand_designed,
    hat_arch,
    hat_subtransformer,
    transformer,
)
from nas.space import get_space

HAT_ROWS = Path(__file__).with_name("hat_latency_rows.json")


def test_encoder_space_compiles_to_attention_pieces() -> None:
    space = get_space("transformer")
    rng = np.random.default_rng(0)
    for _ in range(5):
        arch = space.sample(rng)
        g = space.compile(arch)
        depth = arch.values["layers.depth"]
        ops = [g.node(n).op for n in g.nodes()]
        assert ops.count("softmax") == depth and ops.count("matmul") == 2 * depth
        assert g.shape(g.outputs[0]) == (10,)
        out = to_torch(g).eval()(torch.randn(3, 1, 40))
        assert out.shape == (3, 10)


def test_shared_choices_are_one_decision_for_all_layers() -> None:
    per_layer, shared = transformer(), transformer(shared=True)
    assert "heads" in shared.decisions and "ffn_ratio" in shared.decisions
    sizes = shared.size(include_recipe=False), per_layer.size(include_recipe=False)
    assert sizes[0] is not None and sizes[1] is not None and sizes[0] < sizes[1]
    arch = shared.sample(np.random.default_rng(1))
    g = shared.compile(arch)
    heads = {g.node(n).shape[0] for n in g.nodes() if n.endswith("attn.scores")}
    assert heads == {arch.values["heads"]}


def test_hand_designed_takes_the_given_recipe() -> None:
    space = transformer()
    recipe = {"recipe.lr": 2e-3, "recipe.weight_decay": 1e-2, "recipe.epochs": 20}
    recipe |= {"recipe.label_smoothing": 0.1, "recipe.augment": 0.0}
    arch = hand_designed(space, recipe)
    assert {k: arch.values[k] for k in recipe} == recipe
    assert space.compile(arch).params == 68682


@pytest.mark.slow
def test_search_trains_the_transformer_space_on_mnist1d(tmp_path: Path) -> None:
    nas = str(Path(sys.executable).parent / "nas")
    cmd = [nas, "search", "--space", "transformer", "--dataset", "mnist1d", "--strategy"]
    cmd += ["random", "--budget", "2", "--epochs", "1", "--executor", "local", "--json"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    out = json.loads(done.stdout)
    assert out["statuses"] == {"ok": 2}
    assert out["best"]["metrics"]["val_accuracy"] > 10.0  # better than chance after one epoch


def _rows() -> list[dict]:
    return json.loads(HAT_ROWS.read_text())["rows"]


@pytest.mark.parametrize("row", _rows()[::4], ids=lambda r: f"{r['task']}-{r['hardware']}")
def test_hat_latency_rows_compile(row: dict) -> None:
    """Real rows of HAT's latency table (8 tasks x devices) compile, with the row's averages."""
    space = hat_subtransformer(length=4, vocab=64)
    arch = hat_arch(space, row)
    v = arch.values
    n = v["decoder.depth"]
    assert n == row["decoder_layer_num"]
    enc_ffn = np.mean([v[f"encoder.{i}.ffn"] for i in range(HAT_ENCODER_LAYERS)])
    assert enc_ffn == pytest.approx(row["encoder_ffn_embed_dim_avg"])
    ende = np.mean([v[f"decoder.{i}.ende"] for i in range(n)])
    assert ende == pytest.approx(row["decoder_arbitrary_ende_attn_avg"])
    g = space.compile(arch)
    ops = [g.node(n).op for n in g.nodes()]
    # self-attention in every layer, encoder-decoder attention in every decoder layer
    assert ops.count("softmax") == HAT_ENCODER_LAYERS + 2 * n
    assert g.shape(g.outputs[0]) == (4, 64)  # target tokens x vocabulary logits


def test_every_shipped_hat_row_maps_to_an_arch() -> None:
    space = hat_subtransformer(length=4, vocab=64)
    archs = [hat_arch(space, r) for r in _rows()]
    assert len({a.arch_id for a in archs}) == len(archs)


def test_benchmark_picks_distinct_graphs_within_the_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """benchmarks/transformer_search.py retrains the best distinct graphs of a real store."""
    from nas.store import Result, ResultStore

    monkeypatch.syspath_prepend(str(Path(__file__).parents[2] / "benchmarks"))
    from transformer_search import top_archs

    rows = [  # (arch id, graph hash, val accuracy, params, status)
        ("a", "g1", 80.0, 50_000, "ok"),
        ("b", "g1", 79.0, 50_000, "ok"),  # the same graph with another recipe
        ("c", "g2", 90.0, 90_000, "ok"),  # over the bound
        ("d", "g3", 70.0, 60_000, "ok"),
        ("e", "g4", 99.0, 10_000, "cut"),
        ("f", "g5", 60.0, 20_000, "ok"),
    ]
    results = [
        Result(space="transformer", arch={"values": {"id": a}}, arch_id=a, dataset="mnist1d",
               graph_hash=g, val_accuracy=v, params=p, status=s, fidelity=6)
        for a, g, v, p, s in rows
    ]  # fmt: skip
    ResultStore(tmp_path / "store", durable=False).append(results)
    picked = top_archs(tmp_path / "store", 2, max_params=68682)
    assert [c["graph_hash"] for c in picked] == ["g1", "g3"]
    assert picked[0]["arch"] == {"id": "a"} and picked[0]["search"]["val_accuracy"] == 80.0
    unbounded = top_archs(tmp_path / "store", 3, max_params=None)
    assert [c["graph_hash"] for c in unbounded] == ["g2", "g1", "g3"]

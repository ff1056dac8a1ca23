"""Transformer spaces: an AutoDistil/HAT-style encoder space, and HAT's SubTransformer space.

``transformer`` (MNIST-1D-shaped input ``(1, 40)``, 10 classes) cuts the signal into patches
(tokens), embeds them (a shared hidden size, as in AutoDistil and HAT), adds a positional
embedding, stacks 1 to 4 pre-norm encoder layers whose heads and FFN ratio are chosen per layer
(``shared=True``: once for all layers), then layer norm, mean over tokens and a classifier. The
training recipe is searched with it.

``hat_subtransformer`` is the SubTransformer design space of HAT (Wang et al., ACL 2020) as its
latency table samples it: encoder embedding dim {512, 640}, 6 encoder layers, decoder
embedding dim {512, 640}, 1-6 decoder layers; per layer FFN dim {512, 1024, 2048, 3072} and
heads {2, 4, 8}; each decoder layer attends to the last 1, 2 or 3 encoder layers (``arbitrary
encoder-decoder attention``, summed). It compiles to an IR graph on token ids (source and target, length 30
by default, vocabulary 32768); :func:`hat_arch` turns a row of HAT's latency table (its
per-layer averages) into an arch of this space.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nas.errors import SpaceError
from nas.graph import multi_head_attention
from nas.space import (
    Choice,
    FloatRange,
    IntRange,
    Node,
    Op,
    Part,
    Recipe,
    Repeat,
    Seq,
    Space,
    register_node,
    subpath,
)

if TYPE_CHECKING:
    from nas.graph import Graph
    from nas.space import Arch, BuildContext

__all__ = [
    "EncoderLayer",
    "Tokens",
    "hand_designed",
    "hat_arch",
    "hat_subtransformer",
    "recipe_transformer",
    "transformer",
]


def _ffn(graph: Graph, path: str, x: str, hidden: int) -> str:
    """Position-wise feed-forward: linear -> GELU -> linear, back to the input width."""
    dim = graph.shape(x)[-1]
    y = graph.add("linear", x, name=subpath(path, "fc1"), out_features=hidden)
    y = graph.add("gelu", y, name=subpath(path, "act"))
    return graph.add("linear", y, name=subpath(path, "fc2"), out_features=dim)


def _pre_norm(graph: Graph, path: str, x: str, body: Any) -> str:
    """``x + body(layer_norm(x))``."""
    y = body(graph.add("layer_norm", x, name=subpath(path, "norm")))
    return graph.add("add", [x, y], name=subpath(path, "add"))


@register_node
@dataclass(frozen=True, eq=False)
class Tokens(Node):
    """Signal ``(C, L)`` -> ``(L / patch, dim)`` tokens: patches, a linear embedding and a
    learned positional embedding. ``patch`` must divide ``C * L``."""

    patch: Any
    dim: Any

    def build(self, ctx: BuildContext, graph: Graph, path: str, x: str) -> str:
        patch = ctx.value(subpath(path, "patch"), self.patch)
        dim = ctx.value(subpath(path, "dim"), self.dim)
        y = graph.add("reshape", x, name=subpath(path, "patches"), shape=(-1, patch))
        y = graph.add("linear", y, name=subpath(path, "proj"), out_features=dim)
        return graph.add("pos_embedding", y, name=subpath(path, "pos"))


@register_node
@dataclass(frozen=True, eq=False)
class EncoderLayer(Node):
    """Pre-norm transformer encoder layer on ``(L, D)``: self-attention with ``heads`` heads,
    then a feed-forward of width ``ffn_ratio * D``."""

    heads: Any
    ffn_ratio: Any

    def build(self, ctx: BuildContext, graph: Graph, path: str, x: str) -> str:
        heads = ctx.value(subpath(path, "heads"), self.heads)
        hidden = int(graph.shape(x)[-1] * ctx.value(subpath(path, "ffn_ratio"), self.ffn_ratio))
        attn = subpath(path, "attn")
        x = _pre_norm(graph, attn, x, lambda y: multi_head_attention(graph, y, heads, name=attn))
        ffn = subpath(path, "ffn")
        return _pre_norm(graph, ffn, x, lambda y: _ffn(graph, ffn, y, hidden))


def recipe_transformer() -> Recipe:
    return Recipe(
        optimizer="adamw",
        lr=FloatRange(5e-4, 5e-3, log=True),
        weight_decay=FloatRange(1e-4, 5e-2, log=True),
        epochs=Choice([20, 40]),
        batch_size=128,
        warmup_epochs=1,
        label_smoothing=Choice([0.0, 0.1]),
        augment=Choice([0.0, 0.5]),
    )


def transformer(num_classes: int = 10, length: int = 40, shared: bool = False) -> Space:
    """The encoder space on MNIST-1D-shaped signals (see the module docstring).

    Example:
        >>> space = transformer()
        >>> space.size(include_recipe=False), space.input_shape
        (66420, (1, 40))
    """
    per_layer = {"name": "heads"} if shared else {}
    layer = EncoderLayer(
        heads=Choice([1, 2, 4], **per_layer),
        ffn_ratio=Choice([1, 2, 4], **({"name": "ffn_ratio"} if shared else {})),
    )
    body = Seq(
        embed=Tokens(patch=Choice([4, 5, 8]), dim=Choice([32, 64, 96])),
        layers=Repeat(layer, depth=IntRange(1, 4)),
        norm=Op("layer_norm"),
        pool=Op("token_mean"),
        head=Op("linear", out_features=num_classes),
    )
    return Space(
        "transformer_shared" if shared else "transformer",
        body,
        input_shape=(1, length),
        recipe=recipe_transformer(),
        description="AutoDistil/HAT-style transformer encoder for MNIST-1D as a token sequence",
    )


def transformer_shared() -> Space:
    """:func:`transformer` with one heads and one FFN-ratio choice for all layers."""
    return transformer(shared=True)


def hand_designed(space: Space, recipe: Mapping[str, Any]) -> Arch:
    """A fixed ViT-like design of the ``transformer`` space: patch 4 (10 tokens), width 64,
    2 layers of 4 heads with FFN ratio 2, trained with ``recipe`` (the ``recipe.*`` values)."""
    values: dict[str, Any] = {"embed.patch": 4, "embed.dim": 64, "layers.depth": 2}
    for i in range(2):
        values |= {f"layers.{i}.heads": 4, f"layers.{i}.ffn_ratio": 2}
    return space.arch({**values, **{k: v for k, v in recipe.items() if k.startswith("recipe.")}})


# ----------------------------------------------------------------------------- HAT
HAT_DIMS = (512, 640)
# The choices HAT's latency table was sampled from (its WMT and IWSLT spaces together): per-layer
# FFN dims 512-3072 and 2-8 heads; the table's averages need all of them.
HAT_FFN = (512, 1024, 2048, 3072)
HAT_HEADS = (2, 4, 8)
HAT_ENDE = (1, 2, 3)
HAT_ENCODER_LAYERS = 6
HAT_MAX_DECODER_LAYERS = 6
_DECODER_KEYS = ("ffn", "heads", "ende_heads", "ende")


@register_node
@dataclass(frozen=True, eq=False)
class HatSubTransformer(Node):
    """HAT's SubTransformer: embeddings, a 6-layer encoder, a 1-6 layer decoder whose layers
    attend to the sum of the last ``ende`` encoder layers' outputs, and an output projection.

    The graph input is one ``(2 * length,)`` id sequence: source then target tokens.
    """

    length: int = 30
    vocab: int = 32768

    def parts(self) -> Sequence[Part]:
        enc = [Part("encoder.dim", Choice(list(HAT_DIMS)))]
        for i in range(HAT_ENCODER_LAYERS):
            enc += [Part(f"encoder.{i}.ffn", Choice(list(HAT_FFN)))]
            enc += [Part(f"encoder.{i}.heads", Choice(list(HAT_HEADS)))]
        dec = [Part("decoder.dim", Choice(list(HAT_DIMS)))]
        depth = Choice(list(range(1, HAT_MAX_DECODER_LAYERS + 1)))
        return [*enc, *dec, Part("decoder.depth", depth, then=self._decoder_layers)]

    @staticmethod
    def _decoder_layers(depth: int) -> list[Part]:
        options = dict(zip(_DECODER_KEYS, (HAT_FFN, HAT_HEADS, HAT_HEADS, HAT_ENDE)))
        return [
            Part(f"decoder.{i}.{key}", Choice(list(options[key])))
            for i in range(depth)
            for key in _DECODER_KEYS
        ]

    def build(self, ctx: BuildContext, graph: Graph, path: str, x: str) -> str:
        parts = {p.key: p.value for p in self.parts()}

        def get(key: str, decision: Any = None) -> Any:
            return ctx.decide(subpath(path, key), decision or parts[key])

        n = self.length
        src = graph.add("slice", x, name=subpath(path, "src"), axis=0, start=0, end=n)
        tgt = graph.add("slice", x, name=subpath(path, "tgt"), axis=0, start=n, end=2 * n)
        layers = []
        h = self._embed(graph, subpath(path, "encoder"), src, get("encoder.dim"))
        for i in range(HAT_ENCODER_LAYERS):
            p = subpath(path, f"encoder.{i}")
            h = self._layer(graph, p, h, get(f"encoder.{i}.heads"), get(f"encoder.{i}.ffn"))
            layers.append(h)
        dec_dim = get("decoder.dim")
        depth = get("decoder.depth")
        dec = {p.key: p.value for p in self._decoder_layers(depth)}
        y = self._embed(graph, subpath(path, "decoder"), tgt, dec_dim)
        for i in range(depth):
            p = subpath(path, f"decoder.{i}")
            d = {k: get(f"decoder.{i}.{k}", dec[f"decoder.{i}.{k}"]) for k in _DECODER_KEYS}
            memory = self._memory(graph, p, layers[-d["ende"] :], dec_dim)
            y = self._layer(graph, p, y, d["heads"], d["ffn"], memory, d["ende_heads"])
        y = graph.add("layer_norm", y, name=subpath(path, "decoder.norm"))
        return graph.add("linear", y, name=subpath(path, "output"), out_features=self.vocab)

    def _embed(self, graph: Graph, path: str, ids: str, dim: int) -> str:
        y = graph.add("embedding", ids, name=subpath(path, "embed"), vocab=self.vocab, dim=dim)
        return graph.add("pos_embedding", y, name=subpath(path, "pos"))

    @staticmethod
    def _memory(graph: Graph, path: str, outs: list[str], dim: int) -> str:
        """Sum of the chosen encoder layers, projected to the decoder's width if it differs."""
        memory = (
            outs[0] if len(outs) == 1 else graph.add("add", outs, name=subpath(path, "ende.sum"))
        )
        if graph.shape(memory)[-1] != dim:
            memory = graph.add("linear", memory, name=subpath(path, "ende.proj"), out_features=dim)
        return memory

    @staticmethod
    def _layer(
        graph: Graph, path: str, x: str, heads: int, ffn: int,
        memory: str | None = None, ende_heads: int = 0,
    ) -> str:  # fmt: skip
        attn = subpath(path, "attn")
        x = _pre_norm(graph, attn, x, lambda y: multi_head_attention(graph, y, heads, name=attn))
        if memory is not None:
            cross = subpath(path, "ende")
            x = _pre_norm(
                graph,
                cross,
                x,
                lambda y: multi_head_attention(graph, y, ende_heads, context=memory, name=cross),
            )
        p = subpath(path, "ffn")
        return _pre_norm(graph, p, x, lambda y: _ffn(graph, p, y, ffn))


def hat_subtransformer(length: int = 30, vocab: int = 32768) -> Space:
    """HAT's SubTransformer space (see the module docstring).

    Example:
        >>> space = hat_subtransformer(length=4, vocab=50)
        >>> space.size() == 2 * 12**6 * 2 * sum(108**n for n in range(1, 7))  # enc x dec choices
        True
    """
    return Space(
        "hat_subtransformer",
        HatSubTransformer(length=length, vocab=vocab),
        input_shape=(2 * length,),
        description="HAT SubTransformer (WMT'14 En-De design space) on token ids",
    )


def _split(avg: float, n: int, choices: Sequence[int]) -> list[int]:
    """``n`` values from ``choices`` (largest first) whose mean is ``avg``: HAT's table keeps
    per-layer averages, so one SubTransformer with those averages stands for the row."""
    total = round(avg * n)

    def fill(k: int, rest: int, options: Sequence[int]) -> list[int] | None:
        if k == 0:
            return [] if rest == 0 else None
        for i, v in enumerate(options):
            got = fill(k - 1, rest - v, options[i:]) if v * k >= rest - 0 else None
            if got is not None:
                return [v, *got]
        return None

    found = fill(n, total, sorted(choices, reverse=True))
    if found is None or abs(total - avg * n) > 1e-6:
        raise SpaceError(f"no {n} values in {tuple(choices)} average {avg}")
    return found


def hat_arch(space: Space, row: Mapping[str, Any]) -> Arch:
    """An arch of ``hat_subtransformer`` whose per-layer averages equal a HAT latency-table row.

    HAT's table keeps averages over layers (the features of its latency predictor), so the arch
    is one of the SubTransformers with that row's features (layer order is not recorded).

    Raises:
        SpaceError: If no choice of per-layer values gives the row's averages.
    """
    enc_n, dec_n = int(row["encoder_layer_num"]), int(row["decoder_layer_num"])
    if enc_n != HAT_ENCODER_LAYERS or not 1 <= dec_n <= HAT_MAX_DECODER_LAYERS:
        raise SpaceError(f"HAT row has {enc_n} encoder / {dec_n} decoder layers; expected 6 / 1-6")
    values: dict[str, Any] = {
        "encoder.dim": int(row["encoder_embed_dim"]),
        "decoder.dim": int(row["decoder_embed_dim"]),
        "decoder.depth": dec_n,
    }
    enc_ffn = _split(row["encoder_ffn_embed_dim_avg"], enc_n, HAT_FFN)
    enc_heads = _split(row["encoder_self_attention_heads_avg"], enc_n, HAT_HEADS)
    for i in range(enc_n):
        values |= {f"encoder.{i}.ffn": enc_ffn[i], f"encoder.{i}.heads": enc_heads[i]}
    columns = (
        "ffn_embed_dim",
        "self_attention_heads",
        "ende_attention_heads",
        "arbitrary_ende_attn",
    )
    options = (HAT_FFN, HAT_HEADS, HAT_HEADS, HAT_ENDE)
    dec = {
        key: _split(row[f"decoder_{col}_avg"], dec_n, opts)
        for key, col, opts in zip(_DECODER_KEYS, columns, options)
    }
    for key, per_layer in dec.items():
        values |= {f"decoder.{i}.{key}": v for i, v in enumerate(per_layer)}
    return space.arch(values)

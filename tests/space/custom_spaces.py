"""Small custom spaces that exercise every DSL construct (user-style definitions)."""

from __future__ import annotations

from nas.space import (
    Branches,
    Choice,
    EdgeCell,
    FloatRange,
    InChannels,
    InputCell,
    IntRange,
    Op,
    Recipe,
    Repeat,
    Residual,
    SamePadding,
    Seq,
    Space,
    SqueezeExcite,
)


def conditional_space() -> Space:
    """Conditional subtrees, a variable depth, a shared decision and a recipe."""
    act = Choice(["relu", "gelu"], name="act")
    block = Choice(
        {
            "conv": Seq(
                conv=Op(
                    "conv1d",
                    out_channels=Choice([4, 8]),
                    kernel_size=Choice([3, 5]),
                    padding=SamePadding(),
                ),
                act=Op(act),
            ),
            "res": Residual(
                Seq(
                    conv=Op("conv1d", out_channels=InChannels(), kernel_size=3, padding=1),
                    act=Op(act),
                )
            ),
        }
    )
    body = Seq(
        stem=Op("conv1d", out_channels=4, kernel_size=1),
        blocks=Repeat(block, depth=IntRange(0, 2)),
        head=Seq(pool=Op("global_avg_pool"), fc=Op("linear", out_features=3)),
    )
    return Space(
        "t_conditional",
        body,
        input_shape=(2, 12),
        recipe=Recipe(lr=FloatRange(1e-3, 1e-1, log=True), epochs=Choice([1, 2])),
    )


def finite_conditional_space() -> Space:
    """Like :func:`conditional_space` without continuous decisions (enumerable)."""
    s = conditional_space()
    return Space(
        "t_conditional_finite",
        s.body,
        input_shape=s.input_shape,
        recipe=Recipe(epochs=Choice([1, 2])),
    )


def cell_space() -> Space:
    """An NB-201-style edge cell shared by two cells, plus an NB-101-style input cell."""
    ops = {
        "zero": Op("zero"),
        "skip": Op("identity"),
        "conv": Seq(
            relu=Op("relu"),
            conv=Op("conv2d", out_channels=InChannels(), kernel_size=3, padding=1),
            bn=Op("batch_norm"),
        ),
        "pool": Op("avg_pool", kernel_size=3, stride=1, padding=1, count_include_pad=False),
    }
    body = Seq(
        stem=Op("conv2d", out_channels=6, kernel_size=3, padding=1),
        cells=Repeat(EdgeCell(3, ops, name="edge"), depth=2),
        dag=InputCell(
            4,
            {
                "c1": Op("conv2d", out_channels=InChannels(), kernel_size=1),
                "mp": Op("max_pool", kernel_size=3, stride=1, padding=1),
            },
        ),
        concat=EdgeCell(
            3,
            {
                "skip": Op("identity"),
                "conv": Op("conv2d", out_channels=InChannels(), kernel_size=1),
            },
            output="concat",
        ),
        head=Seq(pool=Op("global_avg_pool"), fc=Op("linear", out_features=4)),
    )
    return Space("t_cells", body, input_shape=(3, 6, 6))


def branches_space() -> Space:
    """Parallel branches (add and concat) and squeeze-excite toggled by a decision."""
    body = Seq(
        stem=Op("conv2d", out_channels=8, kernel_size=3, padding=1),
        split=Branches(
            Op("conv2d", out_channels=Choice([4, 8]), kernel_size=1),
            Op("max_pool", kernel_size=3, stride=1, padding=1),
            merge="concat",
        ),
        se=SqueezeExcite(reduction=4, divisor=4, enabled=Choice([False, True])),
        mix=Branches(Op("identity"), Op("conv2d", out_channels=InChannels(), kernel_size=1)),
        head=Seq(pool=Op("global_avg_pool"), fc=Op("linear", out_features=5)),
    )
    return Space("t_branches", body, input_shape=(3, 8, 8))


CUSTOM_SPACES = {
    "t_conditional": conditional_space,
    "t_conditional_finite": finite_conditional_space,
    "t_cells": cell_space,
    "t_branches": branches_space,
}

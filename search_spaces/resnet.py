"""A ResNet-style space: per stage a depth, a width and a basic or bottleneck block.

Three stages for 32x32 inputs (strides 1, 2, 2); each stage chooses its width among three,
its depth in [1, 4] and its block type (shared by the blocks of the stage). The first block
of a stage projects the shortcut (1x1 conv + BN) when the shape changes. 24^3 = 13,824 archs.
"""

from __future__ import annotations

from typing import Any

from nas.space import Choice, IntRange, Op, Repeat, Residual, Scaled, Select, Seq, Space

__all__ = ["WIDTHS", "resnet"]

WIDTHS = ((16, 32, 48), (32, 64, 96), (64, 128, 192))


def _conv_bn(out: object, kernel: int, stride: int = 1) -> Seq:
    return Seq(
        conv=Op("conv2d", out_channels=out, kernel_size=kernel, stride=stride, padding=kernel // 2),
        bn=Op("batch_norm"),
    )


def _block(width: Choice, stride: int, name: str) -> Select:
    basic = Seq(
        res=Residual(
            Seq(a=_conv_bn(width, 3, stride), relu=Op("relu"), b=_conv_bn(width, 3)),
            shortcut="project",
        ),
        relu=Op("relu"),
    )
    mid = Scaled(0.25, width, divisor=4)
    bottleneck = Seq(
        res=Residual(
            Seq(
                a=_conv_bn(mid, 1),
                relu_a=Op("relu"),
                b=_conv_bn(mid, 3, stride),
                relu_b=Op("relu"),
                c=_conv_bn(width, 1),
            ),
            shortcut="project",
        ),
        relu=Op("relu"),
    )
    return Select(Choice({"basic": basic, "bottleneck": bottleneck}, name=name))


def resnet(num_classes: int = 10) -> Space:
    stages: dict[str, Any] = {}  # Any: a typed dict would clash with Seq's own `key` keyword
    for i, (widths, stride) in enumerate(zip(WIDTHS, (1, 2, 2))):
        width = Choice(list(widths), name=f"stage{i}.width")
        stages[f"stage{i}"] = Repeat(
            _block(width, 1, f"stage{i}.block"),
            depth=IntRange(1, 4, name=f"stage{i}.depth"),
            first=_block(width, stride, f"stage{i}.block"),
        )
    body = Seq(
        stem=Seq(conv=_conv_bn(16, 3), relu=Op("relu")),
        **stages,
        head=Seq(pool=Op("global_avg_pool"), fc=Op("linear", out_features=num_classes)),
    )
    return Space(
        "resnet",
        body,
        input_shape=(3, 32, 32),
        description="ResNet-style space: per-stage depth, width, basic/bottleneck block",
    )

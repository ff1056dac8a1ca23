"""A FBNet/ProxylessNAS-style macro space of inverted-residual (MBConv) stages.

Per stage: kernel {3, 5, 7}, expansion {3, 4, 6}, depth {2, 3, 4} and squeeze-excite
on/off, shared by the blocks of the stage; one width multiplier {0.5, 0.75, 1.0} shared by
every stage. Sized for 32x32 inputs (CIFAR); 3 x 54^4 = 25,509,168 archs.
"""

from __future__ import annotations

from typing import Any

from nas.space import (
    Choice,
    InChannels,
    Op,
    Repeat,
    Residual,
    SamePadding,
    Scaled,
    Seq,
    Space,
    SqueezeExcite,
)

__all__ = ["STAGES", "mobilenet"]

# (base out channels, stride of the first block)
STAGES = ((24, 1), (40, 2), (80, 2), (160, 2))


def mbconv(stage: int, out_channels: object, stride: int) -> Residual:
    kernel = Choice([3, 5, 7], name=f"stage{stage}.kernel")
    expansion = Choice([3, 4, 6], name=f"stage{stage}.expansion")
    se = Choice([False, True], name=f"stage{stage}.se")
    return Residual(
        Seq(
            expand=Seq(
                conv=Op("conv2d", out_channels=InChannels(expansion, 8), kernel_size=1),
                bn=Op("batch_norm"),
                act=Op("hardswish"),
            ),
            dw=Seq(
                conv=Op(
                    "conv2d",
                    out_channels=InChannels(),
                    kernel_size=kernel,
                    stride=stride,
                    padding=SamePadding(),
                    groups=InChannels(),
                ),
                bn=Op("batch_norm"),
                act=Op("hardswish"),
            ),
            se=SqueezeExcite(reduction=4, enabled=se),
            project=Seq(
                conv=Op("conv2d", out_channels=out_channels, kernel_size=1), bn=Op("batch_norm")
            ),
        ),
        shortcut="if_same",
    )


def mobilenet(num_classes: int = 10) -> Space:
    width = Choice([0.5, 0.75, 1.0], name="width_mult")
    stages: dict[str, Any] = {}  # Any: a typed dict would clash with Seq's own `key` keyword
    for i, (channels, stride) in enumerate(STAGES):
        out = Scaled(channels, width)
        stages[f"stage{i}"] = Repeat(
            mbconv(i, out, 1),
            depth=Choice([2, 3, 4], name=f"stage{i}.depth"),
            first=mbconv(i, out, stride),
        )
    body = Seq(
        stem=Seq(
            conv=Op("conv2d", out_channels=Scaled(16, width), kernel_size=3, padding=1),
            bn=Op("batch_norm"),
            act=Op("hardswish"),
        ),
        **stages,
        head=Seq(
            conv=Op("conv2d", out_channels=Scaled(640, width), kernel_size=1),
            bn=Op("batch_norm"),
            act=Op("hardswish"),
            pool=Op("global_avg_pool"),
            fc=Op("linear", out_features=num_classes),
        ),
    )
    return Space(
        "mobilenet",
        body,
        input_shape=(3, 32, 32),
        description="FBNet/ProxylessNAS-style MBConv macro space (kernel, expansion, depth, SE, width)",
    )

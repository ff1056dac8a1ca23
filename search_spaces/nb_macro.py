"""NAS-Bench-Macro (CIFAR-10): exactly the benchmark's MobileNetV2-style macro space.

Stem 3x3 conv (32) + BN + ReLU; 8 searchable layers in stages of 2/3/3 whose first layer
has stride 2 and doubles the width (32 -> 64 -> 128 -> 256); each layer is ``0`` identity
(a 1x1 conv + BN when the shape changes), ``1`` an inverted residual with expansion 3 and
kernel 3, or ``2`` one with expansion 6 and kernel 5 (1x1 expand-BN-ReLU, depthwise kxk-BN-
ReLU, 1x1 project-BN, residual add when the stride is 1 and the width is unchanged); head
1x1 conv to 1280-BN-ReLU-global pool-linear (Su et al., CVPR 2021). 3^8 = 6,561 archs.

Arch strings are the benchmark's 8 digits, one per layer (``"01201212"``).
"""

from __future__ import annotations

from typing import Any

from nas.errors import ArchError
from nas.space import Arch, Choice, InChannels, Op, Project, Residual, Seq, Space

__all__ = ["LAYERS", "format_arch_str", "nb_macro", "parse_arch_str"]

# (out channels, stride) of the 8 searchable layers.
LAYERS = ((64, 2), (64, 1), (128, 2), (128, 1), (128, 1), (256, 2), (256, 1), (256, 1))


def inverted_residual(expansion: int, kernel: int, out_channels: int, stride: int) -> Residual:
    return Residual(
        Seq(
            expand=Seq(
                conv=Op("conv2d", out_channels=InChannels(expansion), kernel_size=1),
                bn=Op("batch_norm"),
                relu=Op("relu"),
            ),
            dw=Seq(
                conv=Op(
                    "conv2d",
                    out_channels=InChannels(),
                    kernel_size=kernel,
                    stride=stride,
                    padding=kernel // 2,
                    groups=InChannels(),
                ),
                bn=Op("batch_norm"),
                relu=Op("relu"),
            ),
            project=Seq(
                conv=Op("conv2d", out_channels=out_channels, kernel_size=1), bn=Op("batch_norm")
            ),
        ),
        shortcut="if_same",
    )


def _layer(out_channels: int, stride: int) -> Choice:
    return Choice(
        {
            "0": Project(out_channels, stride),
            "1": inverted_residual(3, 3, out_channels, stride),
            "2": inverted_residual(6, 5, out_channels, stride),
        }
    )


def nb_macro(num_classes: int = 10) -> Space:
    """The NAS-Bench-Macro CIFAR-10 space."""
    # Any: a typed dict would clash with Seq's own `key` keyword
    layers: dict[str, Any] = {f"layer{i}": _layer(c, s) for i, (c, s) in enumerate(LAYERS)}
    body = Seq(
        stem=Seq(
            conv=Op("conv2d", out_channels=32, kernel_size=3, padding=1),
            bn=Op("batch_norm"),
            relu=Op("relu"),
        ),
        **layers,
        head=Seq(
            conv=Op("conv2d", out_channels=1280, kernel_size=1),
            bn=Op("batch_norm"),
            relu=Op("relu"),
            pool=Op("global_avg_pool"),
            fc=Op("linear", out_features=num_classes),
        ),
    )
    return Space(
        "nb_macro",
        body,
        input_shape=(3, 32, 32),
        description="NAS-Bench-Macro MobileNetV2-style macro space (3^8 archs)",
    )


def parse_arch_str(arch_str: str, space: Space | None = None) -> Arch:
    """``"01201212"`` -> arch. Example: ``format_arch_str(parse_arch_str("01201212"))``."""
    space = space or nb_macro()
    if not isinstance(arch_str, str) or len(arch_str) != len(LAYERS) or set(arch_str) - set("012"):
        raise ArchError(
            f"Not a NAS-Bench-Macro arch string: {arch_str!r}; expected 8 digits in 0..2."
        )
    return space.validate({f"layer{i}": d for i, d in enumerate(arch_str)})


def format_arch_str(arch: Arch) -> str:
    return "".join(str(arch[f"layer{i}"]) for i in range(len(LAYERS)))

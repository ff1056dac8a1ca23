"""Reference models written from their papers (not from torchvision's code), ImageNet heads.

Each is plain torch code as a user would write it; the zoo tests import them through
``from_torch`` and through ONNX and hold the IR to the published parameter counts.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn


def conv_bn(c_in: int, c_out: int, k: int, s: int = 1, groups: int = 1, act: type | None = nn.ReLU):
    """k x k conv (padding k // 2, no bias) -> BatchNorm -> activation."""
    layers: list[nn.Module] = [
        nn.Conv2d(c_in, c_out, k, s, k // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
    ]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


def make_divisible(v: float, divisor: int = 8) -> int:
    """Round channels to a multiple of 8, never more than 10% down (MobileNet papers' rule)."""
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * v else new


class MaybeResidual(nn.Module):
    """A block whose ``body`` is added to its input where ``residual`` says the shapes allow."""

    body: nn.Module
    residual: bool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) if self.residual else self.body(x)


class PooledClassifier(nn.Module):
    """``features`` -> global average pool -> ``classifier`` (the MobileNet/EfficientNet head)."""

    features: nn.Module
    classifier: nn.Module

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (batch, 3, H, W)
        x = F.adaptive_avg_pool2d(self.features(x), 1)  # (batch, C, 1, 1)
        return self.classifier(torch.flatten(x, 1))  # (batch, classes)


# ----------------------------------------------------------------------------- ResNet (He 2016)
class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, c_in: int, width: int, stride: int) -> None:
        super().__init__()
        self.conv1 = conv_bn(c_in, width, 3, stride)
        self.conv2 = conv_bn(width, width, 3, act=None)
        self.short = (
            conv_bn(c_in, width, 1, stride, act=None) if stride != 1 or c_in != width else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x if self.short is None else self.short(x)
        return F.relu(self.conv2(self.conv1(x)) + s)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, c_in: int, width: int, stride: int) -> None:
        super().__init__()
        out = width * 4
        self.body = nn.Sequential(
            conv_bn(c_in, width, 1),
            conv_bn(width, width, 3, stride),
            conv_bn(width, out, 1, act=None),
        )
        self.short = conv_bn(c_in, out, 1, stride, act=None) if stride != 1 or c_in != out else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x if self.short is None else self.short(x)
        return F.relu(self.body(x) + s)


class ResNet(nn.Module):
    def __init__(self, block: type, depths: list[int], classes: int = 1000) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 64, 7, 2, 3, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(),
            nn.MaxPool2d(3, 2, 1),
        )
        layers, c = [], 64
        for i, n in enumerate(depths):
            width = 64 * 2**i
            for j in range(n):
                layers.append(block(c, width, 2 if j == 0 and i > 0 else 1))
                c = width * block.expansion
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(c, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (batch, 3, 224, 224)
        x = self.layers(self.stem(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


# ----------------------------------------------------------------------------- MobileNetV2 (2018)
class InvertedResidual(MaybeResidual):
    def __init__(self, c_in: int, c_out: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = c_in * expand
        layers = [] if expand == 1 else [conv_bn(c_in, hidden, 1, act=nn.ReLU6)]
        layers += [
            conv_bn(hidden, hidden, 3, stride, groups=hidden, act=nn.ReLU6),
            conv_bn(hidden, c_out, 1, act=None),
        ]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out


class MobileNetV2(PooledClassifier):
    SETTINGS = (
        (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
        (6, 160, 3, 2), (6, 320, 1, 1),
    )  # fmt: skip

    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        layers: list[nn.Module] = [conv_bn(3, 32, 3, 2, act=nn.ReLU6)]
        c = 32
        for t, out, n, s in self.SETTINGS:
            for i in range(n):
                layers.append(InvertedResidual(c, out, s if i == 0 else 1, t))
                c = out
        layers.append(conv_bn(c, 1280, 1, act=nn.ReLU6))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, classes))


# ----------------------------------------------------------------------------- MobileNetV3 (2019)
class SqueezeExcite(nn.Module):
    def __init__(self, c: int, squeeze: int, act: type = nn.ReLU, gate: Callable = F.hardsigmoid):
        super().__init__()
        self.reduce = nn.Conv2d(c, squeeze, 1)
        self.act = act()
        self.expand = nn.Conv2d(squeeze, c, 1)
        self.gate = gate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = F.adaptive_avg_pool2d(x, 1)
        return x * self.gate(self.expand(self.act(self.reduce(s))))


class MobileV3Block(MaybeResidual):
    def __init__(self, c_in: int, k: int, exp: int, c_out: int, se: bool, act: type, s: int):
        super().__init__()
        layers: list[nn.Module] = [] if exp == c_in else [conv_bn(c_in, exp, 1, act=act)]
        layers.append(conv_bn(exp, exp, k, s, groups=exp, act=act))
        if se:
            layers.append(SqueezeExcite(exp, make_divisible(exp // 4)))
        layers.append(conv_bn(exp, c_out, 1, act=None))
        self.body = nn.Sequential(*layers)
        self.residual = s == 1 and c_in == c_out


class MobileNetV3Large(PooledClassifier):
    RE, HS = nn.ReLU, nn.Hardswish
    # kernel, expansion, out, squeeze-excite, nonlinearity, stride (Table 1 of the paper)
    TABLE = (
        (3, 16, 16, False, RE, 1), (3, 64, 24, False, RE, 2), (3, 72, 24, False, RE, 1),
        (5, 72, 40, True, RE, 2), (5, 120, 40, True, RE, 1), (5, 120, 40, True, RE, 1),
        (3, 240, 80, False, HS, 2), (3, 200, 80, False, HS, 1), (3, 184, 80, False, HS, 1),
        (3, 184, 80, False, HS, 1), (3, 480, 112, True, HS, 1), (3, 672, 112, True, HS, 1),
        (5, 672, 160, True, HS, 2), (5, 960, 160, True, HS, 1), (5, 960, 160, True, HS, 1),
    )  # fmt: skip

    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        layers: list[nn.Module] = [conv_bn(3, 16, 3, 2, act=nn.Hardswish)]
        c = 16
        for k, exp, out, se, act, s in self.TABLE:
            layers.append(MobileV3Block(c, k, exp, out, se, act, s))
            c = out
        layers.append(conv_bn(c, 960, 1, act=nn.Hardswish))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Linear(960, 1280), nn.Hardswish(), nn.Dropout(0.2), nn.Linear(1280, classes)
        )


# ----------------------------------------------------------------------------- EfficientNet-B0
class MBConv(MaybeResidual):
    def __init__(self, c_in: int, c_out: int, k: int, s: int, expand: int) -> None:
        super().__init__()
        hidden = c_in * expand
        layers = [] if expand == 1 else [conv_bn(c_in, hidden, 1, act=nn.SiLU)]
        layers += [
            conv_bn(hidden, hidden, k, s, groups=hidden, act=nn.SiLU),
            SqueezeExcite(hidden, max(1, c_in // 4), act=nn.SiLU, gate=torch.sigmoid),
            conv_bn(hidden, c_out, 1, act=None),
        ]
        self.body = nn.Sequential(*layers)
        self.residual = s == 1 and c_in == c_out


class EfficientNetB0(PooledClassifier):
    # expansion, kernel, stride, out channels, repeats (Table 1 of Tan & Le 2019)
    STAGES = (
        (1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
        (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1),
    )  # fmt: skip

    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        layers: list[nn.Module] = [conv_bn(3, 32, 3, 2, act=nn.SiLU)]
        c = 32
        for e, k, s, out, n in self.STAGES:
            for i in range(n):
                layers.append(MBConv(c, out, k, s if i == 0 else 1, e))
                c = out
        layers.append(conv_bn(c, 1280, 1, act=nn.SiLU))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, classes))


# ----------------------------------------------------------------------------- DenseNet-121 (2017)
class DenseLayer(nn.Module):
    def __init__(self, c_in: int, growth: int, bn_size: int = 4) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.BatchNorm2d(c_in),
            nn.ReLU(),
            nn.Conv2d(c_in, bn_size * growth, 1, bias=False),
            nn.BatchNorm2d(bn_size * growth),
            nn.ReLU(),
            nn.Conv2d(bn_size * growth, growth, 3, padding=1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.body(x)], 1)


class DenseNet121(nn.Module):
    def __init__(self, growth: int = 32, blocks: tuple = (6, 12, 24, 16), classes: int = 1000):
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(3, 64, 7, 2, 3, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(),
            nn.MaxPool2d(3, 2, 1),
        ]
        c = 64
        for i, n in enumerate(blocks):
            for _ in range(n):
                layers.append(DenseLayer(c, growth))
                c += growth
            if i < len(blocks) - 1:  # transition: halve channels and resolution
                layers += [nn.BatchNorm2d(c), nn.ReLU(), nn.Conv2d(c, c // 2, 1, bias=False)]
                layers.append(nn.AvgPool2d(2, 2))
                c //= 2
        layers += [nn.BatchNorm2d(c), nn.ReLU()]
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(c, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.adaptive_avg_pool2d(self.features(x), 1)
        return self.fc(torch.flatten(x, 1))


# ----------------------------------------------------------------------------- ShuffleNetV2 (2018)
def shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    b, c, h, w = x.size()
    x = x.view(b, groups, c // groups, h, w)
    return torch.transpose(x, 1, 2).contiguous().view(b, -1, h, w)


class ShuffleUnit(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        half = c_out // 2
        self.stride = stride
        if stride > 1:
            self.branch1 = nn.Sequential(
                conv_bn(c_in, c_in, 3, stride, groups=c_in, act=None), conv_bn(c_in, half, 1)
            )
        src = c_in if stride > 1 else half
        self.branch2 = nn.Sequential(
            conv_bn(src, half, 1),
            conv_bn(half, half, 3, stride, groups=half, act=None),
            conv_bn(half, half, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            x1, x2 = x.chunk(2, dim=1)
            out = torch.cat([x1, self.branch2(x2)], 1)
        else:
            out = torch.cat([self.branch1(x), self.branch2(x)], 1)
        return shuffle(out, 2)


class ShuffleNetV2(nn.Module):
    def __init__(self, repeats: tuple = (4, 8, 4), widths: tuple = (24, 116, 232, 464, 1024)):
        super().__init__()
        layers: list[nn.Module] = [conv_bn(3, widths[0], 3, 2), nn.MaxPool2d(3, 2, 1)]
        c = widths[0]
        for n, out in zip(repeats, widths[1:4]):
            for i in range(n):
                layers.append(ShuffleUnit(c, out, 2 if i == 0 else 1))
                c = out
        layers.append(conv_bn(c, widths[4], 1))
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(widths[4], 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).mean([2, 3]))


# ----------------------------------------------------------------------------- SqueezeNet 1.1
class Fire(nn.Module):
    def __init__(self, c_in: int, squeeze: int, e1: int, e3: int) -> None:
        super().__init__()
        self.squeeze = nn.Conv2d(c_in, squeeze, 1)
        self.e1 = nn.Conv2d(squeeze, e1, 1)
        self.e3 = nn.Conv2d(squeeze, e3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = F.relu(self.squeeze(x))
        return torch.cat([F.relu(self.e1(s)), F.relu(self.e3(s))], 1)


class SqueezeNet11(nn.Module):
    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        pool = [nn.MaxPool2d(3, 2, ceil_mode=True)]
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 3, 2), nn.ReLU(), *pool,
            Fire(64, 16, 64, 64), Fire(128, 16, 64, 64), nn.MaxPool2d(3, 2, ceil_mode=True),
            Fire(128, 32, 128, 128), Fire(256, 32, 128, 128), nn.MaxPool2d(3, 2, ceil_mode=True),
            Fire(256, 48, 192, 192), Fire(384, 48, 192, 192),
            Fire(384, 64, 256, 256), Fire(512, 64, 256, 256),
        )  # fmt: skip
        self.classifier = nn.Sequential(nn.Dropout(0.5), nn.Conv2d(512, classes, 1), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.adaptive_avg_pool2d(self.classifier(self.features(x)), 1)
        return torch.flatten(x, 1)


# ----------------------------------------------------------------------------- RegNetX-400MF (2020)
def regnet_stages(depth: int, w0: int, wa: float, wm: float, group: int) -> list[tuple]:
    """(width, depth, group width) per stage from RegNet's linear-then-quantized rule."""
    widths = []
    for j in range(depth):
        u = w0 + wa * j  # the linear parameterization u_j = w0 + wa * j
        s = round(math.log(u / w0) / math.log(wm))
        widths.append(int(round(w0 * wm**s / 8) * 8))
    stages: list[list[int]] = []
    for w in widths:
        if stages and stages[-1][0] == w:
            stages[-1][1] += 1
        else:
            stages.append([w, 1])
    out = []
    for w, d in stages:  # widths a multiple of the group width, halves rounded up (torchvision)
        g = min(group, w)
        out.append((max(g, int(w / g + 0.5) * g), d, g))
    return out


class RegNetBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int, group: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv_bn(c_in, c_out, 1),
            conv_bn(c_out, c_out, 3, stride, groups=c_out // group),
            conv_bn(c_out, c_out, 1, act=None),
        )
        proj = stride != 1 or c_in != c_out
        self.short = conv_bn(c_in, c_out, 1, stride, act=None) if proj else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x if self.short is None else self.short(x)
        return F.relu(self.body(x) + s)


class RegNetX400MF(nn.Module):
    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        layers: list[nn.Module] = [conv_bn(3, 32, 3, 2)]
        c = 32
        for w, d, g in regnet_stages(22, 24, 24.48, 2.54, 16):
            for i in range(d):
                layers.append(RegNetBlock(c, w, 2 if i == 0 else 1, g))
                c = w
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(c, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.adaptive_avg_pool2d(self.features(x), 1)
        return self.fc(torch.flatten(x, 1))


# ----------------------------------------------------------------------------- ConvNeXt-T (2022)
class ChannelsLayerNorm(nn.Module):
    """LayerNorm over the channels of an NCHW tensor."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(c, eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ConvNeXtBlock(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dw = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.fc1 = nn.Linear(dim, 4 * dim)
        self.fc2 = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), 1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (batch, dim, H, W)
        y = self.norm(self.dw(x).permute(0, 2, 3, 1))  # (batch, H, W, dim)
        y = self.fc2(F.gelu(self.fc1(y))) * self.gamma
        return x + y.permute(0, 3, 1, 2)


class ConvNeXtT(nn.Module):
    def __init__(self, depths: tuple = (3, 3, 9, 3), dims: tuple = (96, 192, 384, 768)) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, dims[0], 4, 4), ChannelsLayerNorm(dims[0])]
        for i, (n, d) in enumerate(zip(depths, dims)):
            if i:
                layers += [ChannelsLayerNorm(dims[i - 1]), nn.Conv2d(dims[i - 1], d, 2, 2)]
            layers += [ConvNeXtBlock(d) for _ in range(n)]
        self.features = nn.Sequential(*layers)
        self.norm = nn.LayerNorm(dims[-1], eps=1e-6)
        self.head = nn.Linear(dims[-1], 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.norm(self.features(x).mean([2, 3])))


# ----------------------------------------------------------------------------- ViT-B/16 (2021)
class Attention(nn.Module):
    """Multi-head self-attention, softmax(q k^T / sqrt(d)) v, written out."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.q, self.k, self.v = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (batch, tokens, dim)
        b, n, d = x.shape
        q = self.q(x).reshape(b, n, self.heads, -1).transpose(1, 2)  # (batch, heads, n, d/h)
        k = self.k(x).reshape(b, n, self.heads, -1).transpose(1, 2)
        v = self.v(x).reshape(b, n, self.heads, -1).transpose(1, 2)
        attn = (q @ k.transpose(-2, -1) * self.scale).softmax(dim=-1)  # (batch, heads, n, n)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, d))


class EncoderBlock(nn.Module):
    def __init__(self, dim: int, heads: int, mlp: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim, eps=eps), nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, heads)
        self.fc1, self.fc2 = nn.Linear(dim, mlp), nn.Linear(mlp, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


class ViT(nn.Module):
    def __init__(
        self, image: int = 224, patch: int = 16, dim: int = 768, depth: int = 12,
        heads: int = 12, mlp: int = 3072, classes: int = 1000,
    ) -> None:  # fmt: skip
        super().__init__()
        self.patch = nn.Conv2d(3, dim, patch, patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.randn(1, (image // patch) ** 2 + 1, dim) * 0.02)
        self.blocks = nn.Sequential(*[EncoderBlock(dim, heads, mlp) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (batch, 3, H, W)
        x = self.patch(x).flatten(2).transpose(1, 2)  # (batch, patches, dim)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos
        return self.head(self.norm(self.blocks(x))[:, 0])


# ----------------------------------------------------------------------------- the zoo
# name -> (constructor, published parameter count: torchvision's documented figures)
ZOO: dict[str, tuple[Callable[[], nn.Module], int]] = {
    "resnet18": (lambda: ResNet(BasicBlock, [2, 2, 2, 2]), 11_689_512),
    "resnet50": (lambda: ResNet(Bottleneck, [3, 4, 6, 3]), 25_557_032),
    "mobilenet_v2": (MobileNetV2, 3_504_872),
    "mobilenet_v3_large": (MobileNetV3Large, 5_483_032),
    "efficientnet_b0": (EfficientNetB0, 5_288_548),
    "densenet121": (DenseNet121, 7_978_856),
    "shufflenet_v2_x1_0": (ShuffleNetV2, 2_278_604),
    "squeezenet1_1": (SqueezeNet11, 1_235_496),
    "regnet_x_400mf": (RegNetX400MF, 5_495_976),
    "convnext_tiny": (ConvNeXtT, 28_589_128),
    "vit_b_16": (ViT, 86_567_656),
}
LARGE = {"convnext_tiny", "vit_b_16"}  # slow tests, batch 1

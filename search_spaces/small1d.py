"""Small 1-D spaces for signals shaped like MNIST-1D (1 x 40, 10 classes), with a recipe.

They train in seconds on a CPU, so whole searches run on a laptop. ``cnn1d`` stacks 1 to 4
conv blocks (width, kernel, activation, optional max-pool each) and ends in either global
average pooling or a flatten (position-aware) head; ``mlp`` stacks 1 to 4 dense layers.
Both search the training recipe jointly (learning rate, weight decay, epochs, label
smoothing, augmentation).
"""

from __future__ import annotations

from nas.space import Choice, FloatRange, IntRange, Op, Recipe, Repeat, SamePadding, Seq, Space

__all__ = ["cnn1d", "mlp", "recipe_1d"]


def recipe_1d() -> Recipe:
    return Recipe(
        optimizer="adamw",
        lr=FloatRange(1e-3, 2e-2, log=True),
        weight_decay=FloatRange(1e-5, 1e-2, log=True),
        epochs=Choice([10, 20, 40]),
        batch_size=128,
        warmup_epochs=1,
        label_smoothing=Choice([0.0, 0.1]),
        augment=Choice([0.0, 0.5]),
    )


def cnn1d(num_classes: int = 10, length: int = 40) -> Space:
    block = Seq(
        conv=Op(
            "conv1d",
            out_channels=Choice([16, 32, 64, 96]),
            kernel_size=Choice([3, 5, 7]),
            padding=SamePadding(),
        ),
        bn=Op("batch_norm"),
        act=Op(Choice(["relu", "gelu", "silu"])),
        pool=Choice({"none": Op("identity"), "max": Op("max_pool", kernel_size=2, stride=2)}),
    )
    head = Choice(
        {
            "gap": Seq(pool=Op("global_avg_pool"), fc=Op("linear", out_features=num_classes)),
            "flatten": Seq(
                flat=Op("flatten"),
                drop=Op("dropout", p=Choice([0.0, 0.2])),
                fc=Op("linear", out_features=num_classes),
            ),
        }
    )
    body = Seq(blocks=Repeat(block, depth=IntRange(1, 4)), head=head)
    return Space(
        "cnn1d",
        body,
        input_shape=(1, length),
        recipe=recipe_1d(),
        description="1-D CNN for MNIST-1D-shaped signals, with a training recipe",
    )


def mlp(num_classes: int = 10, length: int = 40) -> Space:
    layer = Seq(
        fc=Op("linear", out_features=Choice([64, 128, 256, 512])),
        act=Op(Choice(["relu", "gelu", "silu"])),
        drop=Op("dropout", p=Choice([0.0, 0.1, 0.3])),
    )
    body = Seq(
        flat=Op("flatten"),
        layers=Repeat(layer, depth=IntRange(1, 4)),
        out=Op("linear", out_features=num_classes),
    )
    return Space(
        "mlp",
        body,
        input_shape=(1, length),
        recipe=recipe_1d(),
        description="MLP for MNIST-1D-shaped signals, with a training recipe",
    )

"""The training recipe: a frozen, validated set of hyper-parameters built from a flat mapping."""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from nas.errors import NasError

__all__ = ["Recipe", "RecipeError"]


class RecipeError(NasError, ValueError):
    """A training recipe has an unknown key or a value out of range."""


_OPTIMIZERS = ("sgd", "adamw")


@dataclass(frozen=True)
class Recipe:
    """How to train a candidate. Defaults follow NAS-Bench-201's SGD + cosine recipe.

    Attributes:
        optimizer: ``"sgd"`` or ``"adamw"``.
        lr: peak learning rate, reached after warm-up, then cosine-annealed to 0 (per step).
        momentum: SGD momentum (ignored by AdamW), in [0, 1).
        nesterov: Nesterov momentum for SGD (only when ``momentum > 0``).
        weight_decay: decoupled for AdamW, L2 for SGD; applied to every parameter.
        epochs: number of passes over the training split.
        batch_size: training batch size (the last incomplete batch of an epoch is dropped).
        warmup_epochs: linear warm-up length in epochs (may be fractional); 0 for none.
        label_smoothing: cross-entropy label smoothing in [0, 1).
        augment: augmentation strength in [0, 1]; 0 turns it off. 1-D signals get a random
            circular shift, gain and Gaussian noise; images get a random translation and
            horizontal flip. Applied on the device, per batch, to the training split only.
        grad_clip: maximum global gradient norm, or None for no clipping.

    Example:
        >>> r = Recipe.from_mapping({"lr": 0.05, "epochs": 3})
        >>> r.lr, r.epochs, r.optimizer
        (0.05, 3, 'sgd')
    """

    optimizer: str = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    epochs: int = 10
    batch_size: int = 128
    warmup_epochs: float = 0.0
    label_smoothing: float = 0.0
    augment: float = 0.0
    grad_clip: float | None = None

    @classmethod
    def allowed_keys(cls) -> tuple[str, ...]:
        """The allowed recipe keys, in declaration order."""
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any] | Recipe | None = None) -> Recipe:
        """Build a recipe from a flat mapping; missing keys take their defaults.

        Integral floats are accepted for integer fields (``epochs=10.0``) and numpy scalars for
        any field, since recipes often come out of samplers.

        Raises:
            RecipeError: an unknown key (the message lists the allowed ones) or a bad value.

        Example:
            >>> Recipe.from_mapping({"learning_rate": 0.1})
            Traceback (most recent call last):
            ...
            nas.train._recipe.RecipeError: Unknown recipe key 'learning_rate'; allowed keys: ...
        """
        if mapping is None:
            return cls()
        if isinstance(mapping, Recipe):
            return mapping
        unknown = [k for k in mapping if k not in cls.allowed_keys()]
        if unknown:
            names = ", ".join(repr(k) for k in unknown)
            raise RecipeError(
                f"Unknown recipe key{'s' if len(unknown) > 1 else ''} {names}; "
                f"allowed keys: {', '.join(cls.allowed_keys())}."
            )
        values = {k: _coerce(k, v) for k, v in mapping.items()}
        return cls(**values)

    def __post_init__(self) -> None:
        checks = [
            ("optimizer", self.optimizer in _OPTIMIZERS, f"one of {_OPTIMIZERS}"),
            ("lr", self.lr > 0 and math.isfinite(self.lr), "a finite float > 0"),
            ("momentum", 0 <= self.momentum < 1, "a float in [0, 1)"),
            ("weight_decay", 0 <= self.weight_decay < math.inf, "a finite float >= 0"),
            ("epochs", self.epochs >= 1, "an int >= 1"),
            ("batch_size", self.batch_size >= 1, "an int >= 1"),
            ("warmup_epochs", 0 <= self.warmup_epochs <= self.epochs, "in [0, epochs]"),
            ("label_smoothing", 0 <= self.label_smoothing < 1, "a float in [0, 1)"),
            ("augment", 0 <= self.augment <= 1, "a float in [0, 1]"),
            ("grad_clip", self.grad_clip is None or self.grad_clip > 0, "None or a float > 0"),
        ]
        for key, ok, expected in checks:
            if not ok:
                raise RecipeError(
                    f"Expected {expected} for recipe key {key!r} (got {getattr(self, key)!r})."
                )

    def to_dict(self) -> dict[str, Any]:
        """The recipe as a flat, JSON-ready dict (the inverse of :meth:`from_mapping`)."""
        return dataclasses.asdict(self)


_TYPES: dict[str, type] = {
    "optimizer": str,
    "lr": float,
    "momentum": float,
    "nesterov": bool,
    "weight_decay": float,
    "epochs": int,
    "batch_size": int,
    "warmup_epochs": float,
    "label_smoothing": float,
    "augment": float,
    "grad_clip": float,
}


def _coerce(key: str, value: Any) -> Any:
    kind = _TYPES[key]
    bad = RecipeError(
        f"Expected {'None or ' if key == 'grad_clip' else ''}{kind.__name__} for recipe key "
        f"{key!r} (got {value!r} of type {type(value).__name__})."
    )
    if value is None and key == "grad_clip":
        return None
    if kind is str:
        if not isinstance(value, str):
            raise bad
        return value.lower()
    if kind is bool:
        if isinstance(value, (bool, np.bool_)) or (
            isinstance(value, numbers.Integral) and int(value) in (0, 1)
        ):
            return bool(value)
        raise bad
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise bad
    number = float(value)
    if kind is int:
        if not math.isfinite(number) or not number.is_integer():
            raise bad
        return int(number)
    return number

"""Built-in search spaces, written with the public DSL only.

Each is a zero-argument factory announced through the ``nas.search_spaces`` entry-point
group in ``pyproject.toml``, exactly as a user's package would announce its own; get one
with :func:`nas.space.get_space`.
"""

from __future__ import annotations

from nas.search_spaces.mobilenet import mobilenet
from nas.search_spaces.nb201 import nb201, nb201_cifar100
from nas.search_spaces.nb_macro import nb_macro
from nas.search_spaces.resnet import resnet
from nas.search_spaces.small1d import cnn1d, mlp

__all__ = ["cnn1d", "mlp", "mobilenet", "nb201", "nb201_cifar100", "nb_macro", "resnet"]

"""Built-in search spaces, written with the public DSL only.

Each module holds a zero-argument factory announced through the ``nas.search_spaces``
entry-point group in ``pyproject.toml``, exactly as a user's package would announce its
own; get a space with :func:`nas.space.get_space` (``get_space("nb201")``). The modules
also carry the benchmark helpers (``nb201.parse_arch_str``, ``nb_macro.format_arch_str``).
"""

from __future__ import annotations

from nas.search_spaces import mobilenet, nb201, nb_macro, resnet, small1d

__all__ = ["mobilenet", "nb201", "nb_macro", "resnet", "small1d"]

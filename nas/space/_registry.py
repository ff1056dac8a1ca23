"""The space registry: built-in spaces register exactly as a user's would.

Spaces are registered as zero-argument factories, so importing the registry builds
nothing. Packages announce spaces through the ``nas.search_spaces`` entry-point group
(``name = "package.module:factory"``); ``nas-engine`` declares its own built-ins there too.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache, partial
from importlib.metadata import EntryPoint, entry_points

from nas._registry import Registry
from nas.space._space import Arch, Space

__all__ = ["get_space", "list_spaces", "register_space", "restamp"]

ENTRY_POINT_GROUP = "nas.search_spaces"

_SPACES: Registry[Callable[[], Space]] = Registry("search space")


def register_space(name: str, factory: Callable[[], Space] | None = None, *, replace: bool = False):
    """Register a space factory; usable as a decorator.

    Example:
        >>> from nas.space import Op, Space, register_space
        >>> @register_space("my_mlp", replace=True)
        ... def my_mlp() -> Space:
        ...     return Space("my_mlp", Op("linear", out_features=10), input_shape=(40,))
    """
    if factory is None:
        return lambda f: _register(name, f, replace)
    return _register(name, factory, replace)


def _register(name: str, factory: Callable[[], Space], replace: bool) -> Callable[[], Space]:
    _SPACES.register(name, factory, replace=replace)
    _build.cache_clear()
    return factory


@cache  # once per process
def _load_entry_points() -> None:
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name not in _SPACES:
            _SPACES.register(ep.name, partial(_load, ep))


def _load(ep: EntryPoint) -> Space:
    return ep.load()()  # type: ignore[no-any-return]


@cache
def _build(name: str) -> Space:
    space = _SPACES.get(name)()
    if not isinstance(space, Space):
        from nas.errors import SpaceError

        raise SpaceError(
            f"The factory of space {name!r} returned {type(space).__name__}, not a Space."
        )
    return space


def get_space(name: str) -> Space:
    """The space registered under ``name`` (built once, then cached)."""
    _load_entry_points()
    return _build(name)


def restamp(arch: Arch) -> Arch:
    """``arch`` as its registered space gives it today, for archs stored before ids carried
    the space's fingerprint: one without a fingerprint, of a registered space at the same
    version, gets that space's fingerprint (and so its current ``arch_id``); any other arch
    is returned as it is (a fingerprint is never replaced: an edited space keeps new ids).

    Example:
        >>> import numpy as np
        >>> arch = get_space("mlp").sample(np.random.default_rng(0))
        >>> old = Arch(arch.space, arch.version, arch.values)  # as stored before fingerprints
        >>> old.arch_id == arch.arch_id, restamp(old).arch_id == arch.arch_id
        (False, True)
    """
    _load_entry_points()
    if arch.fingerprint or arch.space not in _SPACES:
        return arch
    space = get_space(arch.space)
    same = space.version == arch.version
    return Arch(arch.space, arch.version, arch.values, space.fingerprint) if same else arch


def list_spaces() -> list[str]:
    _load_entry_points()
    return _SPACES.names()

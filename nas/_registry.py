"""A small named registry shared by ops, spaces, strategies, datasets and predictors."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from nas.errors import RegistryError

T = TypeVar("T")

__all__ = ["Registry"]


class Registry(Generic[T]):
    """Maps names to objects; raises on duplicates and suggests close matches for unknown names.

    Example:
        >>> reg: Registry[int] = Registry("widget")
        >>> reg.register("one", 1)
        1
        >>> reg.get("one")
        1
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str, obj: T, *, replace: bool = False) -> T:
        if not replace and name in self._items:
            raise RegistryError(
                f"A {self.kind} named {name!r} is already registered; "
                f"pick another name or pass replace=True."
            )
        self._items[name] = obj
        return obj

    def decorator(self, name: str, *, replace: bool = False) -> Callable[[T], T]:
        def wrap(obj: T) -> T:
            return self.register(name, obj, replace=replace)

        return wrap

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise RegistryError(self.unknown_message(name)) from None

    def unknown_message(self, name: str) -> str:
        close = difflib.get_close_matches(str(name), list(self._items), n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        known = (
            ", ".join(sorted(self._items))
            if len(self._items) <= 30
            else f"{len(self._items)} names"
        )
        return f"Unknown {self.kind} {name!r}{hint} (known: {known})"

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def names(self) -> list[str]:
        return sorted(self._items)

    def unregister(self, name: str) -> None:
        self._items.pop(name, None)

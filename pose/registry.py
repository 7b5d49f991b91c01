"""A small name -> object registry shared by backbones, heads, losses and augmentation pipelines.

Config validation reads the allowed names from ``pose.config.catalog``, torch-free tables that a
test holds equal to these registries: adding a backbone is one decorated function and one catalog
line, and the test names the line that is missing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names (and aliases) to registered objects of one kind, e.g. ``"backbone"``."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._aliases: dict[str, str] = {}

    def register(self, name: str, *, aliases: tuple[str, ...] = ()) -> Callable[[T], T]:
        """Decorator registering ``obj`` under ``name`` (and ``aliases``); duplicate names fail."""

        def decorator(obj: T) -> T:
            self.add(name, obj, aliases=aliases)
            return obj

        return decorator

    def add(self, name: str, obj: T, *, aliases: tuple[str, ...] = ()) -> None:
        for key in (name, *aliases):
            if key in self._items or key in self._aliases:
                raise ValueError(f"{self.kind} {key!r} is already registered")
        self._items[name] = obj
        for alias in aliases:
            self._aliases[alias] = name

    def canonical(self, name: str) -> str:
        """The registered name for ``name`` or one of its aliases."""
        if name in self._items:
            return name
        if name in self._aliases:
            return self._aliases[name]
        raise KeyError(self.unknown_message(name))

    def get(self, name: str) -> T:
        return self._items[self.canonical(name)]

    def names(self) -> list[str]:
        """Registered names, aliases excluded, in registration order."""
        return list(self._items)

    def aliases(self) -> dict[str, str]:
        """Each alias and the name it stands for."""
        return dict(self._aliases)

    def unknown_message(self, name: object) -> str:
        return f"unknown {self.kind} {name!r}; expected one of: {', '.join(self.names())}"

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in self._items or name in self._aliases)

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

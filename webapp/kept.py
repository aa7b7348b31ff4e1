"""Values kept in the process, for what pages show of data that changes rarely: each key names
everything its value is made from (a row's id and the version it is at), so a change makes a
new key, never a stale answer; keys nothing asks for again are dropped when the store fills."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class Kept(Generic[V]):
    def __init__(self, size: int) -> None:
        self.size = size
        self._values: dict[Hashable, V] = {}

    def get(self, key: Hashable, make: Callable[[], V]) -> V:
        """The value kept for `key`, or `make()`'s, kept from now on."""
        try:
            return self._values[key]
        except KeyError:
            pass
        value = make()
        if len(self._values) >= self.size:
            # Old versions are never asked for again: starting over is simpler than an LRU
            # and costs one miss per key still in use.
            self._values.clear()
        self._values[key] = value
        return value

    def peek(self, key: Hashable) -> V | None:
        """The value kept for `key`, None when none is (nothing is made)."""
        return self._values.get(key)

    def clear(self) -> None:
        self._values.clear()

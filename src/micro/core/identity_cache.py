"""A small cache for values derived from objects that are not hashable by content (arrays,
sparse matrices, catalog models): keyed by the object's identity, and checked to be the
very same object, so a new object that reuses a freed id never gets a stale value."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

V = TypeVar("V")


class IdentityCache(Generic[V]):
    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._store: dict[tuple[Hashable, ...], tuple[Any, V]] = {}

    def get(self, obj: Any, extra: tuple[Hashable, ...], make: Callable[[], V]) -> V:
        """The value for (obj, *extra), made by `make()` the first time. When full, the
        cache starts over (its entries are few and cheap to remake)."""
        key = (id(obj), *extra)
        hit = self._store.get(key)
        if hit is None or hit[0] is not obj:
            if len(self._store) > self.max_entries:
                self._store.clear()
            hit = (obj, make())
            self._store[key] = hit
        return hit[1]

    def clear(self) -> None:
        self._store.clear()

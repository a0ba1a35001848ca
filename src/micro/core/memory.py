"""One process-wide memory for everything the renderers cache, under one byte budget.

Every derived value kept for reuse (OTFs, scenes, phantom rasters, system matrices, display
tables) lives here, in a namespace named after the function or store that made it
("microscope.optics.otf", "microscope.scene", ...). When the bytes held exceed the budget,
the least recently used entries, whichever namespace they belong to, are dropped until the
total fits again; an entry larger than the whole budget is returned to its caller but not
kept. Renders are pure functions of their request, so an evicted value is simply made again,
identical: eviction changes speed, never pixels.

Cached arrays are made read-only (a caller that wrote into a shared value would change every
later render that reuses it). Renders run in worker threads, so every operation holds one
lock; values are made outside it (two threads missing the same key at once both compute it,
and the second result replaces the first: the same value).

The budget is `MICRO_MEMORY_MB` from the environment, read at first use (the default suits a
2 GB Lambda), or set by the edges with `set_budget`.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from typing import Any, Generic, TypeVar

import numpy as np

__all__ = ["DEFAULT_MB", "GrowingDict", "IdentityCache", "Stats", "budget", "clear", "lookup",
           "memoized", "nbytes", "set_budget", "stats", "store"]

DEFAULT_MB = 512
"""Default budget, sized for a 2 GB Lambda: a process rendering 1024² views measured ~0.7 GB
resident beside its caches (interpreter, libraries, catalog, render temporaries kept by the
allocator), so 0.5 GB of caches peaks at ~1.2 GB and leaves room for renders in parallel
threads (~100 MB of temporaries each)."""
ENV = "MICRO_MEMORY_MB"
NOMINAL_BYTES = 64
"""What a scalar, string or other small object counts for."""

R = TypeVar("R")
V = TypeVar("V")


# --------------------------------------------------------------------------- sizes

def nbytes(value: object) -> int:
    """Bytes a cached value holds: arrays by `nbytes`, sparse matrices by their index and data
    arrays, containers and dataclasses by their parts; anything else counts as NOMINAL_BYTES."""
    return _nbytes(value, set())


def _nbytes(v: object, seen: set[int]) -> int:
    if isinstance(v, np.ndarray):
        while isinstance(v.base, np.ndarray):  # a view holds its whole base: count that, once
            v = v.base
        if id(v) in seen:
            return 0
        seen.add(id(v))
        return int(v.nbytes)
    if isinstance(v, (int, float, complex, str, bytes, bool, type(None), np.generic)):
        return len(v) if isinstance(v, bytes) else NOMINAL_BYTES
    if id(v) in seen:
        return 0
    seen.add(id(v))
    if isinstance(v, dict):
        return NOMINAL_BYTES + sum(_nbytes(k, seen) + _nbytes(x, seen) for k, x in v.items())
    if isinstance(v, (tuple, list, set, frozenset)):
        return NOMINAL_BYTES + sum(_nbytes(x, seen) for x in v)
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return NOMINAL_BYTES + sum(_nbytes(getattr(v, f.name), seen)
                                   for f in dataclasses.fields(v))
    parts = [getattr(v, a) for a in ("data", "indices", "indptr", "row", "col", "offsets")
             if isinstance(getattr(v, a, None), np.ndarray)]
    if parts:  # a scipy.sparse matrix
        return NOMINAL_BYTES + sum(_nbytes(p, seen) for p in parts)
    return NOMINAL_BYTES


def _freeze(v: object, seen: set[int] | None = None) -> None:
    """Make every array reachable through containers and dataclasses read-only."""
    seen = set() if seen is None else seen
    if id(v) in seen:
        return
    if isinstance(v, np.ndarray):
        v.flags.writeable = False
        return
    if isinstance(v, (int, float, complex, str, bytes, bool, type(None), np.generic)):
        return
    seen.add(id(v))
    if isinstance(v, dict):
        for x in v.values():
            _freeze(x, seen)
    elif isinstance(v, (tuple, list, set, frozenset)):
        for x in v:
            _freeze(x, seen)
    elif dataclasses.is_dataclass(v) and not isinstance(v, type):
        for f in dataclasses.fields(v):
            _freeze(getattr(v, f.name), seen)


# --------------------------------------------------------------------------- the registry

@dataclasses.dataclass(frozen=True)
class Stats:
    budget: int
    total: int
    entries: int
    hits: int
    misses: int
    evictions: int
    by_namespace: dict[str, tuple[int, int]]
    """Namespace → (entries, bytes)."""


class _Registry:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: OrderedDict[tuple[str, Hashable], tuple[Any, int]] = OrderedDict()
        self.dirty: set[tuple[str, Hashable]] = set()
        """Entries that grew since they were last measured."""
        self.total = 0
        self.by_ns: dict[str, int] = {}
        self.caps: dict[str, int] = {}
        self.budget: int | None = None
        self.hits = self.misses = self.evictions = 0

    def limit(self) -> int:
        if self.budget is None:
            raw = os.environ.get(ENV, "").strip()
            try:
                mb = float(raw) if raw else DEFAULT_MB
            except ValueError:
                mb = -1.0
            if not mb >= 0:
                raise ValueError(f"{ENV} must be a number of megabytes ≥ 0, got {raw!r}")
            self.budget = int(mb * (1 << 20))
        return self.budget

    def get(self, key: tuple[str, Hashable]) -> tuple[bool, Any]:
        with self.lock:
            hit = self.entries.get(key)
            if hit is None:
                self.misses += 1
                return False, None
            self.entries.move_to_end(key)
            self.hits += 1
            return True, hit[0]

    def put(self, key: tuple[str, Hashable], value: Any, size: int) -> None:
        with self.lock:
            self._pop(key)
            self.entries[key] = (value, size)
            self._count(key[0], size)
            self._remeasure()
            self._evict()

    def grew(self, key: tuple[str, Hashable]) -> None:
        with self.lock:
            if key in self.entries:
                self.dirty.add(key)

    def _count(self, ns: str, size: int) -> None:
        self.total += size
        self.by_ns[ns] = self.by_ns.get(ns, 0) + size

    def _pop(self, key: tuple[str, Hashable]) -> None:
        old = self.entries.pop(key, None)
        if old is not None:
            self._count(key[0], -old[1])
            self.dirty.discard(key)

    def _remeasure(self) -> None:
        """Entries that grew after they were stored (a scene's derived spectra) are measured
        again, and their new arrays made read-only."""
        for key in self.dirty:
            value, size = self.entries[key]
            _freeze(value)
            new = nbytes(value)
            self.entries[key] = (value, new)
            self._count(key[0], new - size)
        self.dirty.clear()

    def _evict(self) -> None:
        for ns, cap in self.caps.items():  # namespaces with their own, smaller limit
            if self.by_ns.get(ns, 0) > cap:
                for key in [k for k in self.entries if k[0] == ns]:
                    self._pop(key)
                    self.evictions += 1
                    if self.by_ns[ns] <= cap:
                        break
        limit = self.limit()
        while self.total > limit and self.entries:
            key = next(iter(self.entries))
            self._pop(key)
            self.evictions += 1

    def clear(self, namespace: str | None) -> None:
        with self.lock:
            if namespace is None:
                self.entries.clear()
                self.dirty.clear()
                self.by_ns.clear()
                self.total = 0
                return
            for key in [k for k in self.entries if k[0] == namespace]:
                self._pop(key)


_REGISTRY = _Registry()


def budget() -> int:
    """The byte budget in force."""
    with _REGISTRY.lock:
        return _REGISTRY.limit()


def set_budget(nbytes_: int | None, namespace: str | None = None) -> None:
    """Set the byte budget of the whole registry (None: back to MICRO_MEMORY_MB or the
    default, read at next use), or a smaller limit for one namespace within it (None: no
    limit of its own). Entries beyond a smaller budget are dropped at once."""
    if nbytes_ is not None and nbytes_ < 0:
        raise ValueError(f"memory budget must be ≥ 0 bytes, got {nbytes_}")
    with _REGISTRY.lock:
        if namespace is None:
            _REGISTRY.budget = nbytes_
        elif nbytes_ is None:
            _REGISTRY.caps.pop(namespace, None)
        else:
            _REGISTRY.caps[namespace] = nbytes_
        _REGISTRY._evict()


def clear(*namespaces: str) -> None:
    """Forget the named namespaces, or everything when none is named."""
    if not namespaces:
        _REGISTRY.clear(None)
    for ns in namespaces:
        _REGISTRY.clear(ns)


def stats() -> Stats:
    """What the registry holds now, in bytes, overall and per namespace."""
    with _REGISTRY.lock:
        _REGISTRY._remeasure()
        counts: dict[str, int] = {}
        for ns, _ in _REGISTRY.entries:
            counts[ns] = counts.get(ns, 0) + 1
        return Stats(_REGISTRY.limit(), _REGISTRY.total, len(_REGISTRY.entries),
                     _REGISTRY.hits, _REGISTRY.misses, _REGISTRY.evictions,
                     {ns: (n, _REGISTRY.by_ns[ns]) for ns, n in counts.items()})


def lookup(namespace: str, key: Hashable) -> tuple[bool, Any]:
    """(True, value) if (namespace, key) is held (it becomes the most recently used)."""
    return _REGISTRY.get((namespace, key))


class GrowingDict(dict[Any, object]):
    """A dict inside a stored value that is filled after the value is stored (a scene's
    derived spectra): each new item has its owner's entry measured again at the next
    addition to the registry."""

    owner: tuple[str, Hashable] | None = None

    def __setitem__(self, key: Any, value: object) -> None:
        super().__setitem__(key, value)
        if self.owner is not None:
            _REGISTRY.grew(self.owner)


def store(namespace: str, key: Hashable, value: V, *, grows: GrowingDict | None = None,
          freeze: bool = True) -> V:
    """Keep `value` under (namespace, key), its arrays made read-only unless `freeze` is
    False; `grows` is a GrowingDict inside the value that is filled later (what is added to
    it is counted, and made read-only, too). Returns the value."""
    if freeze:
        _freeze(value)
    if grows is not None:
        grows.owner = (namespace, key)
    _REGISTRY.put((namespace, key), value, nbytes(value))
    return value


# --------------------------------------------------------------------------- the decorator

_KWARGS = object()


def memoized(namespace: str) -> Callable[[Callable[..., R]], Callable[..., R]]:
    """Like functools.lru_cache (hashable arguments, the same value for equal calls; typed
    like it, by the return value only), with the values kept in the shared registry under
    `namespace` and their arrays read-only."""
    def wrap(fn: Callable[..., R]) -> Callable[..., R]:
        get = _REGISTRY.get

        @functools.wraps(fn)
        def cached(*args: Hashable, **kwargs: Hashable) -> R:
            key = (namespace, args if not kwargs else (*args, _KWARGS, *kwargs.items()))
            found, value = get(key)
            if found:
                return value
            value = fn(*args, **kwargs)
            _freeze(value)
            _REGISTRY.put(key, value, nbytes(value))
            return value

        cached.cache_namespace = namespace  # type: ignore[attr-defined]
        return cached
    return wrap


# --------------------------------------------------------------------------- identity keys

class IdentityCache(Generic[V]):
    """Values derived from objects that are not hashable by content (arrays, sparse matrices,
    catalog models), keyed by the object's identity and checked to be the very same object,
    so a new object that reuses a freed id never gets a stale value. The entries live in the
    registry under `namespace` (each holds its object, which is not counted: it belongs to
    whoever made it)."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace

    def get(self, obj: Any, extra: Iterable[Hashable], make: Callable[[], V]) -> V:
        key = (self.namespace, (id(obj), *extra))
        found, hit = _REGISTRY.get(key)
        if found and hit[0] is obj:
            return hit[1]
        value = make()
        _freeze(value)
        _REGISTRY.put(key, (obj, value), nbytes(value))
        return value

    def clear(self) -> None:
        clear(self.namespace)

"""The one memory of all render caches: a byte budget, least-recently-used eviction across
namespaces, read-only values, one way to clear it, safe from threads — and renders that do
not depend on what it happened to keep."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest
from scipy import sparse

from micro.core import memory
from micro.core.catalog import Catalog, default_catalog
from micro.core.imaging.render import PHANTOM_CACHES, clear_caches
from micro.core.microscope import optics
from micro.core.microscope.scene import SCENES
from micro.core.render import render
from micro.core.requests import canonicalize_imaging, canonicalize_microscope

MB = 1 << 20


@pytest.fixture
def budget() -> Iterator[None]:
    """Each test sets its own budget; the registry is emptied around it and the budget put
    back afterwards (other test files rely on warm caches, not on what these leave)."""
    old = memory.budget()
    memory.clear()
    yield
    memory.clear()
    memory.set_budget(old)


def _calls() -> tuple[list[int], object]:
    made: list[int] = []

    @memory.memoized("test.block")
    def block(i: int, mb: float = 1.0) -> np.ndarray:
        made.append(i)
        return np.full(int(mb * MB) // 8, float(i))

    return made, block


def _held(ns: str) -> tuple[int, int]:
    return memory.stats().by_namespace.get(ns, (0, 0))


def test_budget_holds_while_filling_with_large_entries(budget: None) -> None:
    memory.set_budget(10 * MB)
    made, block = _calls()
    evicted = memory.stats().evictions  # counted since the process started
    for i in range(40):
        a = block(i)  # type: ignore[operator]
        assert a[0] == i and a.nbytes == MB
        s = memory.stats()
        assert s.total <= s.budget == 10 * MB
    n, held = _held("test.block")
    assert n == 10 and held == 10 * MB  # the ten most recent blocks, exactly
    assert memory.stats().evictions - evicted == 40 - 10


def test_least_recently_used_goes_first_across_namespaces(budget: None) -> None:
    memory.set_budget(int(3.5 * MB))
    made, block = _calls()

    @memory.memoized("test.other")
    def other(i: int) -> np.ndarray:
        made.append(100 + i)
        return np.zeros(MB // 8)

    block(0), other(1), block(2)  # type: ignore[operator]
    block(0)  # type: ignore[operator]  # 0 is now the most recent, other(1) the least
    block(3)  # type: ignore[operator]  # a fourth MB: other(1) is dropped
    assert made == [0, 101, 2, 3]
    block(0), block(2), block(3)  # type: ignore[operator]
    assert made == [0, 101, 2, 3]  # still held
    other(1)
    assert made == [0, 101, 2, 3, 101]  # made again; block(0), the oldest use, made room
    block(0)  # type: ignore[operator]
    assert made[-1] == 0


def test_an_entry_larger_than_the_budget_is_returned_but_not_kept(budget: None) -> None:
    memory.set_budget(2 * MB)
    made, block = _calls()
    a = block(1, 3.0)  # type: ignore[operator]
    b = block(1, 3.0)  # type: ignore[operator]
    assert made == [1, 1] and np.array_equal(a, b)
    assert memory.stats().total == 0


def test_clear_empties_everything_or_one_namespace(budget: None) -> None:
    memory.set_budget(64 * MB)
    made, block = _calls()

    @memory.memoized("test.other")
    def other(i: int) -> np.ndarray:
        return np.zeros(1000)

    block(1), other(1), optics.freq_grid(64, 64, 0.5)  # type: ignore[operator]
    memory.clear("test.block")
    assert _held("test.block") == (0, 0) and _held("test.other")[0] == 1
    memory.clear()
    s = memory.stats()
    assert s.entries == 0 and s.total == 0 and s.by_namespace == {}
    block(1)  # type: ignore[operator]
    assert made == [1, 1]


def test_a_namespace_limit_evicts_within_that_namespace(budget: None) -> None:
    memory.set_budget(64 * MB)
    made, block = _calls()
    memory.set_budget(3 * MB, namespace="test.block")
    try:
        keep = optics.freq_grid(64, 64, 0.5)
        for i in range(10):
            block(i)  # type: ignore[operator]
        assert _held("test.block") == (3, 3 * MB)
        assert optics.freq_grid(64, 64, 0.5) is keep  # other namespaces untouched
    finally:
        memory.set_budget(None, namespace="test.block")


def test_cached_arrays_are_read_only(budget: None) -> None:
    memory.set_budget(64 * MB)

    @dataclass(frozen=True)
    class Pair:
        a: np.ndarray
        parts: dict[str, tuple[np.ndarray, float]]

    @memory.memoized("test.nested")
    def nested(n: int) -> Pair:
        return Pair(np.zeros(n), {"x": (np.ones(n), 2.0)})

    p = nested(4)
    with pytest.raises(ValueError, match="read-only"):
        p.a[0] = 1.0
    with pytest.raises(ValueError, match="read-only"):
        p.parts["x"][0] += 1.0
    assert nested(4) is p  # the same value, unchanged
    otf = optics.otf(128, 128, 0.25, 0.65, 540.0, 1.0, 0.0)
    assert not otf.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        otf *= 2.0
    fresh = memory.IdentityCache[np.ndarray]("test.identity")
    key = np.arange(3)
    made = fresh.get(key, (1,), lambda: key * 2)
    assert not made.flags.writeable and fresh.get(key, (1,), lambda: key * 3) is made
    assert fresh.get(np.arange(3), (1,), lambda: key * 3)[1] == 3  # another object: made anew


def test_sizes_count_arrays_views_sparse_and_containers() -> None:
    stack = np.zeros((4, 1000), np.float32)
    views = {"a": stack[0].reshape(10, 100), "b": stack[1]}
    assert memory.nbytes(views) == stack.nbytes + 3 * memory.NOMINAL_BYTES  # the base, once
    m = sparse.random(200, 300, density=0.05, format="csr", random_state=1)
    assert memory.nbytes(m) == (memory.NOMINAL_BYTES + m.data.nbytes + m.indices.nbytes
                                + m.indptr.nbytes)
    assert memory.nbytes((1, 2.0, "x")) == 4 * memory.NOMINAL_BYTES


def test_budget_from_the_environment_is_read_at_first_use(
        budget: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MICRO_MEMORY_MB", "12.5")
    memory.set_budget(None)
    assert memory.budget() == int(12.5 * MB)
    monkeypatch.setenv("MICRO_MEMORY_MB", "lots")
    with pytest.raises(ValueError, match="MICRO_MEMORY_MB must be a number of megabytes"):
        memory.set_budget(None)  # read at once: the budget is applied to what is held
    monkeypatch.delenv("MICRO_MEMORY_MB")
    memory.set_budget(None)
    assert memory.budget() == memory.DEFAULT_MB * MB
    with pytest.raises(ValueError, match="≥ 0"):
        memory.set_budget(-1)


def test_threads_share_the_registry_safely(budget: None) -> None:
    memory.set_budget(3 * MB)  # small: entries are evicted while other threads read them
    errors: list[str] = []

    @memory.memoized("test.threads")
    def value(i: int) -> np.ndarray:
        return np.full(MB // 16, float(i))  # 0.5 MB

    def work(t: int) -> None:
        rng = np.random.default_rng(t)
        for i in rng.integers(0, 12, 300):
            a = value(int(i))
            if a[0] != i or a[-1] != i:
                errors.append(f"thread {t}: key {i} gave {a[0]}")
            s = memory.stats()
            if s.total > s.budget or s.total != sum(b for _, b in s.by_namespace.values()):
                errors.append(f"thread {t}: {s.total} bytes held, budget {s.budget}")

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    s = memory.stats()
    assert s.hits > 0 and s.evictions > 0 and s.entries == _held("test.threads")[0] <= 6


# --------------------------------------------------------------------------- renders

@pytest.fixture(scope="module")
def cat() -> Catalog:
    return default_catalog()


def _views(cat: Catalog) -> list[bytes]:
    """A focus step of a brightfield field (scene reused, OTF per focus), a fluorescence view
    of the same window and a CT slice: the caches of both pipelines."""
    out = []
    for focus in (0.0, 0.6):
        req = canonicalize_microscope(dict(instrument="student-compound", objective=40,
                                           specimen="liver-he", stain="he", size=256,
                                           focus_um=focus), cat)
        out.append(render(req, cat).image)
    req = canonicalize_microscope(dict(instrument="widefield-fluorescence", objective=40,
                                       specimen="fluorescent-beads", size=256), cat)
    out.append(render(req, cat).image)
    ct = canonicalize_imaging(dict(instrument="ct-64-slice", phantom="abdomen", size=256), cat)
    out.append(render(ct, cat).image)
    return out


def test_renders_do_not_depend_on_what_the_memory_kept(budget: None, cat: Catalog) -> None:
    memory.set_budget(512 * MB)
    _views(cat)
    warm = _views(cat)  # served from warm caches
    memory.set_budget(1 * MB)  # nearly nothing is kept: everything is made again
    tiny = _views(cat)
    assert memory.stats().total <= 1 * MB
    assert tiny == warm


def test_clearing_a_phantom_keeps_the_geometry_tables(budget: None, cat: Catalog) -> None:
    memory.set_budget(512 * MB)
    ct = canonicalize_imaging(dict(instrument="ct-64-slice", phantom="abdomen", size=256), cat)
    first = render(ct, cat).image
    held = set(memory.stats().by_namespace)
    assert {"imaging.phantom.fractions", "imaging.ct.reconstruct"} <= held
    geometry = {ns for ns in held if ns.startswith("imaging.fbp.")}
    assert geometry
    clear_caches()
    left = set(memory.stats().by_namespace)
    assert not left & set(PHANTOM_CACHES) and geometry <= left
    assert render(ct, cat).image == first


def test_growing_entries_are_measured_again_and_frozen(budget: None) -> None:
    memory.set_budget(64 * MB)
    held = memory.GrowingDict()
    memory.store("test.grow", "k", {"own": np.zeros(10), "derived": held}, grows=held)
    before = _held("test.grow")[1]
    late = np.zeros(MB // 8)
    held["late"] = late  # as a render stage adds a derived spectrum to its scene
    optics.freq_grid(32, 32, 1.0)  # any addition measures growing entries again
    assert _held("test.grow")[1] == before + MB + memory.NOMINAL_BYTES
    assert not late.flags.writeable
    assert memory.stats().total == sum(b for _, b in memory.stats().by_namespace.values())


def test_a_scene_is_kept_with_its_spectra(budget: None, cat: Catalog) -> None:
    memory.set_budget(512 * MB)
    req = canonicalize_microscope(dict(instrument="student-compound", objective=40,
                                       specimen="liver-he", stain="he", size=256), cat)
    render(req, cat)
    n, scene_bytes = _held(SCENES)
    assert n == 1 and scene_bytes > 256 * 256 * 4
    render(req.replace(cat, focus_um=0.5), cat)
    assert _held(SCENES) == (1, scene_bytes)  # a focus step reuses scene and spectra

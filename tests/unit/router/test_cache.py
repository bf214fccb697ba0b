"""The response cache: keys, TTL, LRU bound, and cache hits in execute."""

from __future__ import annotations

import threading

import pytest

from routelearn.instance.router import CallOutput, ResponseCache, cache_key
from tests.unit.router.fakes import FakeClock, catalog, make_router, model


def test_the_key_covers_model_params_and_prompt() -> None:
    key = cache_key("m", {"temperature": 0, "max_tokens": 10}, "hi")
    assert len(key) == 64 and int(key, 16) >= 0
    assert key == cache_key("m", {"max_tokens": 10, "temperature": 0}, "hi")  # canonical JSON
    others = {
        cache_key("n", {"temperature": 0, "max_tokens": 10}, "hi"),
        cache_key("m", {"temperature": 1, "max_tokens": 10}, "hi"),
        cache_key("m", {"temperature": 0, "max_tokens": 10}, "hi!"),
        cache_key("m", {}, "hi"),
    }
    assert key not in others and len(others) == 4
    # The prompt cannot be confused with the parameters it follows.
    assert cache_key("m", {}, '"x"\n') != cache_key("m", {"": "x"}, "")
    with pytest.raises(TypeError, match="JSON"):
        cache_key("m", {"f": object()}, "hi")


def test_entries_expire_after_the_ttl() -> None:
    clock = FakeClock()
    cache: ResponseCache[str] = ResponseCache(10, ttl_s=30.0, clock=clock)
    cache.put("k", "v")
    clock.advance(29.9)
    assert cache.get("k") == "v"
    clock.advance(0.1)
    assert cache.get("k") is None
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.expired, stats.size) == (1, 1, 1, 0)


def test_the_least_recently_used_entry_is_evicted() -> None:
    cache: ResponseCache[int] = ResponseCache(2, clock=FakeClock())
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # a is now the most recent
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)
    assert len(cache) == 2 and cache.stats().evicted == 1


def test_concurrent_use_keeps_the_bound() -> None:
    cache: ResponseCache[int] = ResponseCache(50)

    def work(offset: int) -> None:
        for i in range(2000):
            cache.put(str((i * 7 + offset) % 300), i)
            cache.get(str(i % 300))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(cache) == 50


class Calls:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, entry: object, prompt: str, params: object) -> CallOutput:
        self.count += 1
        return CallOutput(f"answer {self.count}", prompt_tokens=10, completion_tokens=5)


def test_a_cache_hit_skips_the_call_costs_nothing_and_publishes_nothing() -> None:
    cat = catalog(model("a", {"simple": 4.0}, prices=(0.01, 0.01)))
    router, publisher, _ = make_router(cat, cache=ResponseCache(16))
    call = Calls()
    first = router.execute("hello", call, complexity="simple", params={"temperature": 0})
    events = len(publisher.events)
    again = router.execute("hello", call, complexity="simple", params={"temperature": 0})
    assert call.count == 1 and events == 2
    assert len(publisher.events) == events  # a hit says nothing new about the model
    assert (first.cache_hit, again.cache_hit) == (False, True)
    assert (again.output, again.cost, again.prompt_tokens, again.attempts) == (
        "answer 1",
        0.0,
        0,
        (),
    )
    assert first.cost == pytest.approx(0.00015)
    assert router.stats().cache_hits == 1


def test_other_params_or_use_cache_false_miss() -> None:
    cat = catalog(model("a", {"simple": 4.0}))
    router, _, _ = make_router(cat, cache=ResponseCache(16))
    call = Calls()
    router.execute("hello", call, complexity="simple", params={"temperature": 0})
    router.execute("hello", call, complexity="simple", params={"temperature": 0.7})
    router.execute("hello", call, complexity="simple", params={"temperature": 0}, use_cache=False)
    assert call.count == 3
    uncached, _, _ = make_router(cat)  # no cache configured: never cached
    uncached.execute("hello", call, complexity="simple")
    uncached.execute("hello", call, complexity="simple")
    assert call.count == 5


def test_failures_are_not_cached() -> None:
    cat = catalog(model("a", {"simple": 4.0}), model("b", {"simple": 3.0}))
    router, _, _ = make_router(cat, cache=ResponseCache(16))
    outputs: list[str] = []

    def call(entry: object, prompt: str, params: object) -> str:
        name = getattr(entry, "name", "")
        outputs.append(name)
        if name == "a" and len(outputs) == 1:
            raise ConnectionError
        return f"from {name}"

    assert router.execute("q", call, complexity="simple").output == "from b"
    assert router.execute("q", call, complexity="simple").output == "from a"  # a: no entry
    assert router.execute("q", call, complexity="simple").cache_hit

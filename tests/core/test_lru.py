"""The bound every process-local cache of verified credentials keeps (``core.lru``)."""

import threading

from core.lru import LRU


def test_at_the_bound_the_least_recently_used_entry_goes():
    cache = LRU(maxsize=3)
    for key in "abc":
        cache.put(key, key.upper())
    cache.get("a")  # now the most recently used

    evicted = cache.put("d", "D")

    assert evicted == [("b", "B")]
    assert [cache.get(key) for key in "abcd"] == ["A", None, "C", "D"]


def test_putting_a_key_again_makes_it_the_most_recently_used():
    cache = LRU(maxsize=2)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.put("a", 3)

    assert cache.put("c", 4) == [("b", 2)]
    assert cache.get("a") == 3


def test_pop_and_clear_forget_entries():
    cache = LRU(maxsize=4)
    cache.put("a", 1)
    cache.put("b", 2)

    assert cache.pop("a") == 1
    assert cache.pop("a") is None
    cache.clear()
    assert len(cache) == 0


def test_the_bound_holds_under_concurrent_writers_and_readers():
    cache = LRU(maxsize=100)

    def work(offset):
        for n in range(2_000):
            cache.put(offset + n, n)
            cache.get(offset + n // 2)
            cache.pop(offset + n - 50)

    threads = [threading.Thread(target=work, args=(t * 10_000,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(cache) <= 100

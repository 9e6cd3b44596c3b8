"""One metering backend per process, however many threads ask for it first."""

import threading
from concurrent.futures import ThreadPoolExecutor

from metering import backends


def test_threads_that_ask_at_once_after_a_reset_share_one_backend():
    backends.active.cache_clear()
    start = threading.Barrier(16)

    def first_call(_):
        start.wait()
        return backends.active()

    with ThreadPoolExecutor(max_workers=16) as pool:
        seen = set(map(id, pool.map(first_call, range(16))))

    assert len(seen) == 1

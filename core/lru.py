"""The one bound and eviction policy of what a process remembers of verified credentials.

Each process remembers what it has verified — API keys' principals and users, decoded JWTs,
logged-in sessions: the credential cache, ``metering.verified`` — so that a warm request costs no
database query and no signature check. Memory must stay bounded whatever the traffic, and
reaching the bound must not make every warm credential cold at once: the least recently used
entry goes first.

Reads take no lock: ``OrderedDict``'s own operations are atomic in CPython, so a read racing a
write sees the entry or does not, and a move to the end of an entry dropped meanwhile is
skipped. Writes take the cache's lock, so that the bound holds.
"""

import threading
from collections import OrderedDict
from collections.abc import Hashable


class LRU:
    """A map of at most ``maxsize`` entries; ``put`` returns what it evicted to make room."""

    def __init__(self, maxsize: int):
        self.maxsize = maxsize
        self._data: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable):
        value = self._data.get(key)
        if value is not None:
            try:  # noqa: SIM105  (every warm request reads here; suppress() costs a frame)
                self._data.move_to_end(key)  # most recently used
            except KeyError:
                pass  # dropped by another thread since the read: the caller has its copy
        return value

    def put(self, key: Hashable, value) -> list[tuple]:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            evicted = []
            while len(self._data) > self.maxsize:
                evicted.append(self._data.popitem(last=False))
            return evicted

    def pop(self, key: Hashable, default=None):
        with self._lock:
            return self._data.pop(key, default)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)

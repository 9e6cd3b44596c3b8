"""Where counters, usage buffers and key generations live: Redis, or this process's memory.

Redis is the production store, shared by every process and node: one Lua call per request.
Without Redis (the embedded default, one process) the same operations run in memory; a
separate process, such as ``manage.py flushusage``, then sees nothing of the server's buffer,
which is why the server also flushes on read (see ``metering.usage``).
"""

import secrets
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache as memoize

from django.core.cache import cache, caches
from django.core.signals import setting_changed
from django.dispatch import receiver
from django_redis import get_redis_connection
from django_redis.cache import RedisCache


@dataclass(frozen=True, slots=True)
class Counter:
    key: str
    limit: int
    ttl: int
    ends_at: int


@dataclass(slots=True)
class Pending:
    """Usage buffered for one key since the last flush."""

    count: int = 0
    days: dict[str, int] = field(default_factory=dict)  # "2026-11-22" -> n
    last_at: int | None = None  # epoch seconds
    last_ip: str | None = None


_COUNT_SCRIPT = """
local n = tonumber(ARGV[1])
local base = 2 * n + 1
local generation = ''
if ARGV[base + 5] == '1' then generation = redis.call('GET', KEYS[n + 3]) or '' end
if ARGV[base + 6] ~= '' and generation ~= ARGV[base + 6] then return {'stale', generation} end
local result = {}
local admitted = true
for i = 1, n do
  local count = redis.call('INCR', KEYS[i])
  if count == 1 then redis.call('EXPIRE', KEYS[i], tonumber(ARGV[1 + 2 * i])) end
  result[i] = count
  if count > tonumber(ARGV[2 * i]) then admitted = false end
end
if admitted and ARGV[base + 1] ~= '' then
  redis.call('HINCRBY', KEYS[n + 1], 'n', 1)
  redis.call('HINCRBY', KEYS[n + 1], ARGV[base + 2], 1)
  redis.call('HSET', KEYS[n + 1], 'at', ARGV[base + 3], 'ip', ARGV[base + 4])
  redis.call('SADD', KEYS[n + 2], ARGV[base + 1])
end
result[n + 1] = generation
return result
"""

_TAKE_SCRIPT = """
local fields = redis.call('HGETALL', KEYS[1])
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
return fields
"""


class RedisBackend:
    def __init__(self):
        self._client = get_redis_connection("default")
        self._count = self._client.register_script(_COUNT_SCRIPT)
        self._take = self._client.register_script(_TAKE_SCRIPT)

    def count(self, counters, *, usage_key_id, generation_of, ip, now, expected_generation=None):
        """Count one request; ``(None, generation)`` when ``expected_generation`` is stale."""
        keys = [cache.make_key(c.key) for c in counters]
        argv = [len(counters)]
        for counter in counters:
            argv += [counter.limit, counter.ttl]
        keys += [
            _usage_key(usage_key_id or "-"),
            cache.make_key(DIRTY_SET),
            _generation_key(generation_of or "-"),
        ]
        argv += [
            usage_key_id or "",
            f"d:{day_of(now)}",
            int(now),
            ip or "",
            "1" if generation_of else "0",
            expected_generation or "",
        ]
        result = self._count(keys=keys, args=argv)
        generation = result[-1]
        generation = generation.decode() if isinstance(generation, bytes) else generation
        if result[0] == b"stale":
            return None, (generation or None)
        return [int(c) for c in result[:-1]], (generation or None)

    def usage_dirty_ids(self) -> list[str]:
        return [m.decode() for m in self._client.smembers(cache.make_key(DIRTY_SET))]

    def usage_take(self, key_id: str) -> Pending:
        raw = self._take(keys=[_usage_key(key_id), cache.make_key(DIRTY_SET)], args=[key_id])
        values = {raw[i].decode(): raw[i + 1].decode() for i in range(0, len(raw), 2)}
        return _pending_from_fields(values)

    def usage_peek(self, key_id: str) -> Pending:
        raw = self._client.hgetall(_usage_key(key_id))
        return _pending_from_fields({k.decode(): v.decode() for k, v in raw.items()})

    def usage_restore(self, key_id: str, pending: Pending) -> None:
        key = _usage_key(key_id)
        with self._client.pipeline(transaction=True) as pipe:
            pipe.hincrby(key, "n", pending.count)
            for day, n in pending.days.items():
                pipe.hincrby(key, f"d:{day}", n)
            if pending.last_at is not None:
                pipe.hsetnx(key, "at", pending.last_at)
                pipe.hsetnx(key, "ip", pending.last_ip or "")
            pipe.sadd(cache.make_key(DIRTY_SET), key_id)
            pipe.execute()

    def generation_bump(self, key_id: str) -> None:
        self._client.set(_generation_key(key_id), secrets.token_hex(8))

    def generation_ensure(self, key_id: str) -> str:
        """The key's generation, created if the cache has none (e.g. after a restart)."""
        key = _generation_key(key_id)
        self._client.set(key, secrets.token_hex(8), nx=True)
        value = self._client.get(key)
        return value.decode() if value is not None else ""


class LocalBackend:
    """One process: counters in the local cache (so get_usage sees them), usage in a dict."""

    def __init__(self):
        self._lock = threading.Lock()
        self._usage: dict[str, Pending] = defaultdict(Pending)

    def count(self, counters, *, usage_key_id, generation_of, ip, now, expected_generation=None):
        generation = cache.get(f"gen:{generation_of}") if generation_of else None
        if expected_generation and generation != expected_generation:
            return None, generation
        counts = []
        for counter in counters:
            if cache.add(counter.key, 1, counter.ttl):
                counts.append(1)
            else:
                try:
                    counts.append(cache.incr(counter.key))
                except ValueError:  # expired between add and incr
                    cache.add(counter.key, 1, counter.ttl)
                    counts.append(1)
        admitted = all(n <= c.limit for n, c in zip(counts, counters, strict=True))
        if admitted and usage_key_id:
            with self._lock:
                pending = self._usage[usage_key_id]
                pending.count += 1
                day = day_of(now)
                pending.days[day] = pending.days.get(day, 0) + 1
                pending.last_at, pending.last_ip = int(now), ip
        return counts, generation

    def usage_dirty_ids(self) -> list[str]:
        with self._lock:
            return list(self._usage)

    def usage_take(self, key_id: str) -> Pending:
        with self._lock:
            return self._usage.pop(key_id, None) or Pending()

    def usage_peek(self, key_id: str) -> Pending:
        with self._lock:
            pending = self._usage.get(key_id)
            return (
                Pending(pending.count, dict(pending.days), pending.last_at, pending.last_ip)
                if pending
                else Pending()
            )

    def usage_restore(self, key_id: str, pending: Pending) -> None:
        with self._lock:
            current = self._usage[key_id]
            current.count += pending.count
            for day, n in pending.days.items():
                current.days[day] = current.days.get(day, 0) + n
            if current.last_at is None:
                current.last_at, current.last_ip = pending.last_at, pending.last_ip

    def generation_bump(self, key_id: str) -> None:
        cache.set(f"gen:{key_id}", secrets.token_hex(8), None)

    def generation_ensure(self, key_id: str) -> str:
        cache.add(f"gen:{key_id}", secrets.token_hex(8), None)
        return cache.get(f"gen:{key_id}") or ""


DIRTY_SET = "usage:dirty"


@memoize
def active():
    """The backend for the configured default cache (memoized; reset when settings change)."""
    if isinstance(caches["default"], RedisCache):  # ``cache`` is a proxy: ask the real one
        return RedisBackend()
    return LocalBackend()


@receiver(setting_changed)
def _reset(*, setting, **kwargs):
    if setting == "CACHES":
        active.cache_clear()


def _usage_key(key_id: str) -> str:
    return cache.make_key(f"usage:{key_id}")


def _generation_key(key_id: str) -> str:
    return cache.make_key(f"gen:{key_id}")


def day_of(now: float) -> str:
    return datetime.fromtimestamp(now, tz=UTC).date().isoformat()


def _pending_from_fields(values: dict[str, str]) -> Pending:
    pending = Pending()
    for name, value in values.items():
        if name == "n":
            pending.count = int(value)
        elif name.startswith("d:"):
            pending.days[name[2:]] = int(value)
        elif name == "at":
            pending.last_at = int(value)
        elif name == "ip":
            pending.last_ip = value or None
    return pending

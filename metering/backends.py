"""Where counters, usage buffers and key generations live: Redis, or this process's memory.

Redis is the production store, shared by every process and node: one Lua call per request.
Without Redis (the embedded default, one process) the same operations run in this process's
memory, under one lock; a separate process, such as ``manage.py flushusage``, then sees nothing
of the server's buffer, which is why the server also flushes on read (see ``metering.usage``).
Any other configured cache (``CACHE_URL``) keeps counters and generations in that cache.
"""

import logging
import mmap
import os
import secrets
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache as memoize
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from django.core.signals import setting_changed
from django.dispatch import receiver
from django_redis import get_redis_connection
from django_redis.cache import RedisCache

from core import fastpath

logger = logging.getLogger(__name__)


class Counter(NamedTuple):  # a tuple: hashed at C speed where the script's names are memoized
    key: str
    limit: int
    ttl: int


@dataclass(slots=True)
class Pending:
    """Usage buffered for one key since the last flush."""

    count: int = 0
    days: dict[str, int] = field(default_factory=dict)  # "2026-11-22" -> n
    last_at: int | None = None  # epoch seconds
    last_ip: str | None = None


class ShadowJudged(NamedTuple):
    """One active proposal's verdict on a request, before the script adds its rate windows."""

    proposal_id: str
    rule: str  # "" passes; "-" the live rules refuse it anyway; else the rule that would refuse
    counters: tuple[Counter, ...] = ()  # the proposal's own rate windows, counted, never enforced


class Shadow(NamedTuple):
    """What ``apikeys.shadow`` adds to a key's request: its route and its proposals' verdicts."""

    method: str
    path: str  # normalised: what a would-be refusal records
    observed: str  # "GET /api/v1/…": the (method, route pattern) to remember today; "" none
    proposals: tuple[ShadowJudged, ...] = ()


@dataclass(slots=True)
class ShadowPending:
    """Shadow figures buffered for one key since the last flush."""

    judged: dict[str, int] = field(default_factory=dict)  # proposal id -> n
    refused: dict[str, int] = field(default_factory=dict)  # proposal id -> n
    recent: list[str] = field(default_factory=list)  # newest first: "id\tmethod\tpath\tip…"
    observed: set[str] = field(default_factory=set)  # "2026-11-22\tGET /api/v1/…"

    def __bool__(self) -> bool:
        return bool(self.judged or self.recent or self.observed)


RECENT_MAX = 1000  # would-be refusals kept per key (SPEC §12)
MAX_ROUTES_PER_DAY = 200  # distinct (method, route) remembered per key and UTC day
SHADOW_TAG = "__shadow"  # where the shadow block's arguments start, whatever precedes them

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
-- Shadow restrictions and observed routes (apikeys.shadow, SPEC §12): self-contained. Its
-- ARGV start after the tag '__shadow', wherever that is: the KEYS index of its first key,
-- method, path, the observed route ('' none), the per-day cap of routes, the proposal count,
-- then per proposal its id, its rule ('' passes, '-' refused live anyway, else the rule that
-- would refuse), its window count and per window limit, ttl. Its KEYS: the key's shadow hash,
-- its recent list, the shadow dirty set, then each proposal's window counters (counted, never
-- enforced). A request the live rules admit and a proposal refuses is a would-be refusal.
for t = base + 7, #ARGV do
  if ARGV[t] == '__shadow' then
    local k = tonumber(ARGV[t + 1])
    local hash, recent, touched = KEYS[k], KEYS[k + 1], false
    local day = ARGV[base + 2]
    if ARGV[t + 4] ~= '' then
      local route = 'o:' .. string.sub(day, 3) .. '\t' .. ARGV[t + 4]
      if redis.call('HEXISTS', hash, route) == 0
          and tonumber(redis.call('HGET', hash, 'c:' .. day) or '0') < tonumber(ARGV[t + 5]) then
        redis.call('HSET', hash, route, 1)
        redis.call('HINCRBY', hash, 'c:' .. day, 1)
        touched = true
      end
    end
    local a, c = t + 7, k + 3
    for p = 1, tonumber(ARGV[t + 6]) do
      local id, rule, windows = ARGV[a], ARGV[a + 1], tonumber(ARGV[a + 2])
      a = a + 3
      for w = 1, windows do
        local count = redis.call('INCR', KEYS[c])
        if count == 1 then redis.call('EXPIRE', KEYS[c], tonumber(ARGV[a + 1])) end
        if rule == '' and count > tonumber(ARGV[a]) then rule = 'rate_limit' end
        a, c = a + 2, c + 1
      end
      if redis.call('HINCRBY', hash, 'j:' .. id, 1) == 1 then touched = true end
      if admitted and rule ~= '' and rule ~= '-' then
        redis.call('HINCRBY', hash, 'r:' .. id, 1)
        redis.call('LPUSH', recent, table.concat(
          {id, ARGV[t + 2], ARGV[t + 3], ARGV[base + 4], rule, ARGV[base + 3]}, '\t'))
        redis.call('LTRIM', recent, 0, 999)
      end
    end
    -- Marked for the flush when something new came in since the last (which empties the hash).
    if touched then redis.call('SADD', KEYS[k + 2], ARGV[base + 1]) end
    break
  end
end
result[n + 1] = generation
return result
"""

# After a narrowing change commits: a fresh generation for each key, unless another change's
# marker (``~…``, set by ``generation_retire``) is there — that change has not committed yet,
# and its own settle (or the marker's expiry) moves the generation on. ARGV[1] is our marker,
# ARGV[2] the generations' time to live (``GENERATION_TTL``), then one fresh value per key.
_SETTLE_SCRIPT = """
for i, key in ipairs(KEYS) do
  local current = redis.call('GET', key)
  if not (current and string.sub(current, 1, 1) == '~' and current ~= ARGV[1]) then
    redis.call('SET', key, ARGV[i + 2], 'EX', ARGV[2])
  end
end
return #KEYS
"""

_SHADOW_TAKE_SCRIPT = """
local fields = redis.call('HGETALL', KEYS[1])
local recent = redis.call('LRANGE', KEYS[2], 0, -1)
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('SREM', KEYS[3], ARGV[1])
return {fields, recent}
"""

_TAKE_SCRIPT = """
local fields = redis.call('HGETALL', KEYS[1])
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
return fields
"""


class RedisBackend:
    buffers_in_process = False  # the usage buffer is Redis, flushed by ``flushusage``

    def __init__(self):
        self._client = get_redis_connection("default")
        self._count = self._client.register_script(_COUNT_SCRIPT)
        self._take = self._client.register_script(_TAKE_SCRIPT)
        self._settle = self._client.register_script(_SETTLE_SCRIPT)
        self._shadow_take = self._client.register_script(_SHADOW_TAKE_SCRIPT)
        # Resolved once: going through the ``cache`` proxy costs a lookup per key per request;
        # and a counter's, a key's or a record's Redis name never changes, so it is built once.
        self._make_key = caches["default"].make_key
        self._dirty_set = self._make_key(DIRTY_SET)
        self._shadow_dirty_set = self._make_key(SHADOW_DIRTY_SET)
        self._script_head = lru_cache(maxsize=16384)(self._script_head_of)
        self._shadow_keys = lru_cache(maxsize=16384)(self._shadow_keys_of)
        self._shadow_part = lru_cache(maxsize=16384)(self._shadow_part_of)
        self._counter_name = lru_cache(maxsize=16384)(self._make_key)
        self._run_count = fastpath.script_runner(
            self._client,
            self._count,
            poll_seconds=settings.KEYWARD_REDIS_POLL_MICROSECONDS / 1_000_000,
            on_reconnect=_notify_reconnect,
        )

    def count(
        self,
        counters,
        *,
        usage_key_id,
        generation_of,
        ip,
        now,
        expected_generation=None,
        shadow: Shadow | None = None,
    ):
        """Count one request; ``(None, generation)`` when ``expected_generation`` is stale."""
        head = self._script_head(counters, usage_key_id, generation_of)
        args = (
            usage_key_id or "",
            f"d:{_day(int(now) // 86400)}",
            int(now),
            ip or "",
            "1" if generation_of else "0",
            expected_generation or "",
        )
        if shadow is None or not usage_key_id:
            result = self._run_count(*head, *args)
        else:
            numkeys = head[0]
            keys, shadow_args = self._shadow_part(shadow, usage_key_id, numkeys + 1)
            result = self._run_count(
                numkeys + len(keys),
                *head[1 : 1 + numkeys],
                *keys,
                *head[1 + numkeys :],
                *args,
                *shadow_args,
            )
        generation = result[-1]
        generation = generation.decode() if isinstance(generation, bytes) else generation
        if result[0] == b"stale":
            return None, (generation or None)
        return [int(c) for c in result[:-1]], (generation or None)

    def _shadow_part_of(self, shadow: Shadow, key_id: str, first_key: int) -> tuple:
        """The shadow block's KEYS and ARGV (see the script), its first key at ``first_key``.

        Memoized: a key's requests to one route, with the same verdicts, send the same block.
        """
        keys = list(self._shadow_keys(key_id))
        args = [
            SHADOW_TAG,
            first_key,
            shadow.method,
            shadow.path,
            shadow.observed,
            MAX_ROUTES_PER_DAY,
            len(shadow.proposals),
        ]
        for judged in shadow.proposals:
            args += [judged.proposal_id, judged.rule, len(judged.counters)]
            for counter in judged.counters:
                keys.append(self._counter_name(counter.key))
                args += [counter.limit, counter.ttl]
        return tuple(keys), tuple(args)

    def _shadow_keys_of(self, key_id: str) -> tuple[str, str, str]:
        return (
            self._make_key(f"shadow:{key_id}"),
            self._make_key(f"shadow:recent:{key_id}"),
            self._shadow_dirty_set,
        )

    def shadow_dirty_ids(self) -> list[str]:
        return [m.decode() for m in self._client.smembers(self._shadow_dirty_set)]

    def shadow_take(self, key_id: str) -> ShadowPending:
        fields, recent = self._shadow_take(keys=list(self._shadow_keys(key_id)), args=[key_id])
        values = {_text(fields[i]): _text(fields[i + 1]) for i in range(0, len(fields), 2)}
        return _shadow_from_fields(values, [_text(entry) for entry in recent])

    def shadow_restore(self, key_id: str, pending: ShadowPending) -> None:
        hash_key, recent_key, dirty = self._shadow_keys(key_id)
        with self._client.pipeline(transaction=True) as pipe:
            for field_name, n in _shadow_fields(pending).items():
                pipe.hincrby(hash_key, field_name, n)
            if pending.recent:
                pipe.rpush(recent_key, *pending.recent)
                pipe.ltrim(recent_key, 0, RECENT_MAX - 1)
            pipe.sadd(dirty, key_id)
            pipe.execute()

    def _script_head_of(self, counters, usage_key_id, generation_of) -> tuple:
        """The script's keys and the windows' limits: the same until one of the windows ends."""
        keys = [self._make_key(c.key) for c in counters]
        keys += [
            self._make_key(f"usage:{usage_key_id or '-'}"),
            self._dirty_set,
            self._make_key(f"gen:{generation_of or '-'}"),
        ]
        limits = [len(counters)]
        for counter in counters:
            limits += [counter.limit, counter.ttl]
        return (len(keys), *keys, *limits)

    def peek(self, counters) -> list[int]:
        values = self._client.mget([self._make_key(c.key) for c in counters]) if counters else []
        return [int(v or 0) for v in values]

    def usage_dirty_ids(self) -> list[str]:
        return [m.decode() for m in self._client.smembers(self._dirty_set)]

    def usage_take(self, key_id: str) -> Pending:
        raw = self._take(keys=[self._usage_key(key_id), self._dirty_set], args=[key_id])
        values = {raw[i].decode(): raw[i + 1].decode() for i in range(0, len(raw), 2)}
        return _pending_from_fields(values)

    def usage_restore(self, key_id: str, pending: Pending) -> None:
        key = self._usage_key(key_id)
        with self._client.pipeline(transaction=True) as pipe:
            pipe.hincrby(key, "n", pending.count)
            for day, n in pending.days.items():
                pipe.hincrby(key, f"d:{day}", n)
            if pending.last_at is not None:
                pipe.hsetnx(key, "at", pending.last_at)
                pipe.hsetnx(key, "ip", pending.last_ip or "")
            pipe.sadd(self._dirty_set, key_id)
            pipe.execute()

    def generation_bump(self, key_id: str) -> None:
        self.generation_settle([key_id], marker="")

    def generation_retire(self, key_ids, *, marker: str, ttl: int) -> None:
        """Put ``marker`` in place of each generation, for ``ttl`` seconds at most."""
        with self._client.pipeline(transaction=False) as pipe:
            for key_id in key_ids:
                pipe.set(self._generation_key(key_id), marker, ex=ttl)
            pipe.execute()

    def generation_settle(self, key_ids, *, marker: str) -> None:
        """A fresh generation for each key, unless another change's marker holds it."""
        key_ids = list(key_ids)
        self._settle(
            keys=[self._generation_key(k) for k in key_ids],
            args=[marker, GENERATION_TTL, *(secrets.token_hex(8) for _ in key_ids)],
        )

    def generation_ensure(self, key_id: str) -> str:
        """The key's generation, created if the cache has none (e.g. after a restart)."""
        key = self._generation_key(key_id)
        self._client.set(key, secrets.token_hex(8), nx=True, ex=GENERATION_TTL)
        value = self._client.get(key)
        return value.decode() if value is not None else ""

    def generation_get(self, key_id: str) -> str | None:
        value = self._client.get(self._generation_key(key_id))
        return value.decode() if value is not None else None

    def generation_claim(self, key_id: str) -> str | None:
        """A fresh generation if the cache had none; ``None`` if another one was set first."""
        token = secrets.token_hex(8)
        claimed = self._client.set(self._generation_key(key_id), token, nx=True, ex=GENERATION_TTL)
        return token if claimed else None

    def persistence_config(self) -> dict[str, str]:
        """Redis's ``appendonly`` and ``save`` settings (raises if CONFIG is refused)."""
        values = {}
        for name in ("appendonly", "save"):
            values.update({_text(k): _text(v) for k, v in self._client.config_get(name).items()})
        return values

    def _usage_key(self, key_id: str) -> str:
        return self._make_key(f"usage:{key_id}")

    def _generation_key(self, key_id: str) -> str:
        return self._make_key(f"gen:{key_id}")


class CacheBackend:
    """One process's usage buffer; counters and generations in the configured Django cache."""

    buffers_in_process = True  # so the server flushes it itself (``metering.usage``)

    def __init__(self):
        self._lock = threading.Lock()
        self._usage: dict[str, Pending] = defaultdict(Pending)
        self._shadow: dict[str, ShadowPending] = defaultdict(ShadowPending)
        self._routes_today: dict[str, tuple[str, int]] = {}  # key id -> (day, routes added)
        self._cache = caches["default"]

    def count(
        self,
        counters,
        *,
        usage_key_id,
        generation_of,
        ip,
        now,
        expected_generation=None,
        shadow: Shadow | None = None,
    ):
        cache = self._cache
        generation = cache.get(f"gen:{generation_of}") if generation_of else None
        if expected_generation and generation != expected_generation:
            return None, generation
        counts = [self._incr(counter, now) for counter in counters]
        admitted = all(n <= c.limit for n, c in zip(counts, counters, strict=True))
        if usage_key_id and admitted:
            self._buffer_use(usage_key_id, ip=ip, now=now)
        if usage_key_id and shadow is not None:
            rules = [self._shadow_rule(judged, now) for judged in shadow.proposals]
            with self._lock:
                self._add_shadow(usage_key_id, shadow, rules, admitted, ip=ip, now=now)
        return counts, generation

    def _incr(self, counter: Counter, now: float) -> int:
        cache = self._cache
        if cache.add(counter.key, 1, counter.ttl):
            return 1
        try:
            return cache.incr(counter.key)
        except ValueError:  # expired between add and incr
            cache.add(counter.key, 1, counter.ttl)
            return 1

    def _shadow_rule(self, judged: ShadowJudged, now: float) -> str:
        """The proposal's rule after its own windows are counted (as the Redis script does)."""
        rule = judged.rule
        for counter in judged.counters:
            if self._incr(counter, now) > counter.limit and rule == "":
                rule = "rate_limit"
        return rule

    def _add_shadow(self, key_id, shadow: Shadow, rules, admitted, *, ip, now) -> None:
        """The Redis script's shadow block, in memory (called under ``_lock``)."""
        pending = self._shadow[key_id]
        if shadow.observed:
            day = _day(int(now) // 86400)
            seen_day, added = self._routes_today.get(key_id, (day, 0))
            added = added if seen_day == day else 0
            route = f"{day}\t{shadow.observed}"
            if route not in pending.observed and added < MAX_ROUTES_PER_DAY:
                pending.observed.add(route)
                self._routes_today[key_id] = (day, added + 1)
        for judged, rule in zip(shadow.proposals, rules, strict=True):
            pid = judged.proposal_id
            pending.judged[pid] = pending.judged.get(pid, 0) + 1
            if admitted and rule not in ("", "-"):
                pending.refused[pid] = pending.refused.get(pid, 0) + 1
                entry = "\t".join((pid, shadow.method, shadow.path, ip or "", rule, str(int(now))))
                pending.recent.insert(0, entry)
                del pending.recent[RECENT_MAX:]
        if not pending:
            del self._shadow[key_id]

    def shadow_take(self, key_id: str) -> ShadowPending:
        with self._lock:
            return self._shadow.pop(key_id, None) or ShadowPending()

    def shadow_restore(self, key_id: str, pending: ShadowPending) -> None:
        with self._lock:
            current = self._shadow[key_id]
            for pid, n in pending.judged.items():
                current.judged[pid] = current.judged.get(pid, 0) + n
            for pid, n in pending.refused.items():
                current.refused[pid] = current.refused.get(pid, 0) + n
            current.recent = (current.recent + pending.recent)[:RECENT_MAX]
            current.observed |= pending.observed

    def peek(self, counters) -> list[int]:
        return [int(self._cache.get(c.key) or 0) for c in counters]

    def _buffer_use(self, key_id: str, *, ip, now) -> None:
        with self._lock:
            self._add_use(key_id, ip=ip, now=now)

    def _add_use(self, key_id: str, *, ip, now) -> None:  # under ``_lock``
        pending = self._usage[key_id]
        pending.count += 1
        day = _day(int(now) // 86400)
        pending.days[day] = pending.days.get(day, 0) + 1
        pending.last_at, pending.last_ip = int(now), ip

    def usage_dirty_ids(self) -> list[str]:
        with self._lock:
            return list(self._usage)

    def shadow_dirty_ids(self) -> list[str]:
        with self._lock:
            return list(self._shadow)

    def usage_take(self, key_id: str) -> Pending:
        with self._lock:
            return self._usage.pop(key_id, None) or Pending()

    def usage_restore(self, key_id: str, pending: Pending) -> None:
        with self._lock:
            current = self._usage[key_id]
            current.count += pending.count
            for day, n in pending.days.items():
                current.days[day] = current.days.get(day, 0) + n
            if current.last_at is None:
                current.last_at, current.last_ip = pending.last_at, pending.last_ip

    def generation_bump(self, key_id: str) -> None:
        self.generation_settle([key_id], marker="")

    def generation_retire(self, key_ids, *, marker: str, ttl: int) -> None:
        self._cache.set_many({f"gen:{k}": marker for k in key_ids}, ttl)

    def generation_settle(self, key_ids, *, marker: str) -> None:
        # Not atomic as the Redis script is: a cache without scripts is one process's anyway.
        for key_id in key_ids:
            if not is_marker_of_another(self._cache.get(f"gen:{key_id}"), marker):
                self._cache.set(f"gen:{key_id}", secrets.token_hex(8), GENERATION_TTL)

    def generation_ensure(self, key_id: str) -> str:
        self._cache.add(f"gen:{key_id}", secrets.token_hex(8), GENERATION_TTL)
        return self._cache.get(f"gen:{key_id}") or ""

    def generation_get(self, key_id: str) -> str | None:
        return self._cache.get(f"gen:{key_id}")

    def generation_claim(self, key_id: str) -> str | None:
        token = secrets.token_hex(8)
        return token if self._cache.add(f"gen:{key_id}", token, GENERATION_TTL) else None


class MemoryBackend(CacheBackend):
    """The embedded default: counters and generations in plain dicts, under the one lock.

    The in-process cache would hold them just as privately, but at the price of a key check,
    a pickle and a lock per operation — more than the rest of a warm request's authentication.

    Generations are this process's, but a change can come from another one — ``revokeapikey``
    or the shell beside the server. Every bump therefore also rewrites the file beside the
    database (``ChangeFile``), and reading a generation first looks at that file: when another
    process has written to it, every generation here moves to a new epoch, so each cached
    record is read again from the database once.
    """

    PRUNE_AT = 10_000  # counters; expired ones are dropped when the table grows past this

    def __init__(self):
        super().__init__()
        self._counters: dict[str, tuple[int, float]] = {}  # key -> (count, expires at)
        self._generations: dict[str, str] = {}
        self._retiring: dict[str, float] = {}  # key -> when its marker lapses (monotonic)
        self._prune_at = self.PRUNE_AT
        self._changes = ChangeFile(changes_path())
        self._changes_seen = self._changes.stamp()
        self._epoch = 0

    def count(
        self,
        counters,
        *,
        usage_key_id,
        generation_of,
        ip,
        now,
        expected_generation=None,
        shadow: Shadow | None = None,
    ):
        with self._lock:
            generation = self._generation(generation_of) if generation_of else None
            if expected_generation and generation != expected_generation:
                return None, generation
            counts, admitted = [], True
            for counter in counters:
                count = self._incr(counter, now)
                counts.append(count)
                admitted = admitted and count <= counter.limit
            if usage_key_id and admitted:
                self._add_use(usage_key_id, ip=ip, now=now)
            if usage_key_id and shadow is not None:
                rules = [self._shadow_rule(judged, now) for judged in shadow.proposals]
                self._add_shadow(usage_key_id, shadow, rules, admitted, ip=ip, now=now)
            if len(self._counters) > self._prune_at:
                self._prune(now)
        return counts, generation

    def _incr(self, counter: Counter, now: float) -> int:  # under ``_lock``
        count, expires_at = self._counters.get(counter.key, (0, 0.0))
        if expires_at <= now:
            count, expires_at = 0, now + counter.ttl
        count += 1
        self._counters[counter.key] = (count, expires_at)
        return count

    def peek(self, counters) -> list[int]:
        now = time.time()
        with self._lock:
            entries = [self._counters.get(c.key, (0, 0.0)) for c in counters]
        return [count if expires_at > now else 0 for count, expires_at in entries]

    def generation_bump(self, key_id: str) -> None:
        self.generation_settle([key_id], marker="")

    def generation_retire(self, key_ids, *, marker: str, ttl: int) -> None:
        lapses_at = time.monotonic() + ttl
        with self._lock:
            for key_id in key_ids:
                self._generations[key_id] = marker
                self._retiring[key_id] = lapses_at
        self._changes.announce()

    def generation_settle(self, key_ids, *, marker: str) -> None:
        with self._lock:
            for key_id in key_ids:
                if not is_marker_of_another(self._generations.get(key_id), marker):
                    self._generations[key_id] = secrets.token_hex(8)
                    self._retiring.pop(key_id, None)
        self._changes.announce()

    def generation_ensure(self, key_id: str) -> str:
        with self._lock:
            self._lapse_marker(key_id)
            self._generations.setdefault(key_id, secrets.token_hex(8))
            return self._generation(key_id)

    def generation_get(self, key_id: str) -> str | None:
        with self._lock:
            self._lapse_marker(key_id)
            return self._generation(key_id)

    def _lapse_marker(self, key_id: str) -> None:
        """A marker lives no longer here than on Redis (called under the lock)."""
        lapses_at = self._retiring.get(key_id)
        if lapses_at is not None and lapses_at <= time.monotonic():
            del self._retiring[key_id]
            self._generations[key_id] = secrets.token_hex(8)

    def generation_claim(self, key_id: str) -> str | None:
        with self._lock:
            if key_id in self._generations:
                return None
            self._generations[key_id] = secrets.token_hex(8)
            return self._generation(key_id)

    def _generation(self, key_id: str) -> str | None:
        """The key's generation, in the epoch of the last change any process announced."""
        stamp = self._changes.stamp()
        if stamp != self._changes_seen:
            # Another process changed something (or this one did: that costs one reread per
            # cached record). Which record is unknown, so every generation moves on.
            self._changes_seen = stamp
            self._epoch += 1
        token = self._generations.get(key_id)
        return f"{token}.{self._epoch}" if token is not None else None

    def _prune(self, now: float) -> None:
        self._counters = {k: v for k, v in self._counters.items() if v[1] > now}
        self._prune_at = max(self.PRUNE_AT, 2 * len(self._counters))


def changes_path() -> Path:
    """The file every process of an embedded installation writes to when a record changes.

    Beside the SQLite database when there is one on disk, so that exactly the processes that
    share the data share the file; else in the project's ``var/``.
    """
    database = settings.DATABASES["default"]
    name = str(database.get("NAME") or "")
    on_disk = name and ":memory:" not in name and not name.startswith("file:")
    if database["ENGINE"].endswith("sqlite3") and on_disk:
        return Path(f"{name}.changes")
    return Path(settings.VAR_DIR) / "keyward.changes"


class ChangeFile:
    """Eight bytes that any process rewrites, with fresh random ones, when a record changes.

    The server reads them on every request through a shared memory map: a memory read, where
    a ``stat`` of the file was a system call (~6 µs in a request). A write is ``os.pwrite``
    into the page cache, which every mapping of the file sees at once, so a change committed
    by a command is seen by the server's very next request. The file only ever grows to its
    eight bytes; shrinking it under a running server (by hand) would stop that server's worker,
    which the next worker recovers from.
    """

    SIZE = 8

    def __init__(self, path: Path):
        self.path = path
        self._map = None
        try:
            fd = self._open(os.O_RDWR)
            try:
                self._map = mmap.mmap(fd, self.SIZE, access=mmap.ACCESS_READ)
            finally:
                os.close(fd)
        except (OSError, ValueError) as exc:
            logger.warning("change file %s unreadable, falling back to stat: %s", path, exc)

    def stamp(self) -> bytes | tuple[int, int]:
        if self._map is not None:
            return self._map[: self.SIZE]
        try:
            stat = os.stat(self.path)
        except OSError:
            return (-1, -1)
        return (stat.st_size, stat.st_mtime_ns)

    def announce(self) -> None:
        try:
            fd = self._open(os.O_WRONLY)
            try:
                os.pwrite(fd, secrets.token_bytes(self.SIZE), 0)
            finally:
                os.close(fd)
        except OSError as exc:
            logger.warning("could not tell other processes of a change (%s): %s", self.path, exc)

    def _open(self, mode: int) -> int:
        fd = os.open(self.path, mode | os.O_CREAT, 0o600)
        if os.fstat(fd).st_size < self.SIZE:
            os.ftruncate(fd, self.SIZE)  # only ever grows: a mapped file must never shrink
        return fd


DIRTY_SET = "usage:dirty"
SHADOW_DIRTY_SET = "shadow:dirty"
MARKER_PREFIX = "~"  # a generation held by a change that has not committed yet


def is_marker_of_another(value, marker: str) -> bool:
    return isinstance(value, str) and value.startswith(MARKER_PREFIX) and value != marker


_reconnect_listeners: list = []


def on_reconnect(listener) -> None:
    """Call ``listener()`` when the per-request connection finds Redis gone and reconnects.

    ``metering.verified`` empties its records then: a Redis that restarted may have lost the
    last writes before it died (``appendfsync everysec``), a retired generation among them.
    """
    _reconnect_listeners.append(listener)


def _notify_reconnect() -> None:
    for listener in _reconnect_listeners:
        listener()


# Generations live a day in a shared cache, so that nothing a request creates stays forever (a
# deleted key's, a user's who never returns). One that expires under a cached record only
# makes the next request read that record again.
GENERATION_TTL = 86_400


@memoize
def active():
    """The backend for the configured default cache (memoized; reset when settings change)."""
    default = caches["default"]  # ``cache`` is a proxy: ask the real one
    if isinstance(default, RedisCache):
        return RedisBackend()
    if isinstance(default, LocMemCache):
        return MemoryBackend()
    return CacheBackend()


@receiver(setting_changed)
def _reset(*, setting, **kwargs):
    if setting in ("CACHES", "KEYWARD_REDIS_POLL_MICROSECONDS"):
        active.cache_clear()


def day_of(now: float) -> str:
    return datetime.fromtimestamp(now, tz=UTC).date().isoformat()


@lru_cache(maxsize=4)
def _day(day_number: int) -> str:
    """``day_of`` by days since the epoch: formatting a date on every request costs ~2 µs."""
    return day_of(day_number * 86400)


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


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


def _shadow_from_fields(values: dict[str, str], recent: list[str]) -> ShadowPending:
    """The Redis hash's fields: ``j:<id>``, ``r:<id>`` counts, ``o:<day>\t<route>`` routes."""
    pending = ShadowPending(recent=recent)
    for name, value in values.items():
        if name.startswith("j:"):
            pending.judged[name[2:]] = int(value)
        elif name.startswith("r:"):
            pending.refused[name[2:]] = int(value)
        elif name.startswith("o:"):
            pending.observed.add(name[2:])
    return pending


def _shadow_fields(pending: ShadowPending) -> dict[str, int]:
    fields = {f"j:{pid}": n for pid, n in pending.judged.items()}
    fields.update({f"r:{pid}": n for pid, n in pending.refused.items()})
    fields.update({f"o:{route}": 1 for route in pending.observed})
    return fields

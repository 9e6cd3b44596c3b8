"""Where counters, usage buffers and key generations live: Redis, or this process's memory.

Redis is the production store, shared by every process and node: one Lua call per request.
Without Redis (the embedded default, one process) the same operations run in this process's
memory, under one lock; a separate process, such as ``manage.py flushusage``, then sees nothing
of the server's buffer, which is why the server also flushes on read (see ``apikeys.usage``).
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
from core.cache import CACHE_ERRORS, Tally
from core.redis_topology import is_cluster
from metering.keys import same_slot, tagged

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
    # Calls with the key that were not served, per day (issue 26's usage chart): over its rate
    # limit, or refused by its own rules (IP allowlist, expiry, tenant) before any use.
    limited: dict[str, int] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)

    def add_missed(self, kind: str, day: str) -> None:
        """One call of ``kind`` (``"l"`` rate-limited, ``"r"`` refused) on ``day``."""
        days = self.refused if kind == "r" else self.limited
        days[day] = days.get(day, 0) + 1


class Counted(NamedTuple):
    """What one ``count`` call found: the windows' counts (``None``: nothing was counted)."""

    counts: list[int] | None
    generation: str | None
    tally: int | None = None  # the audit tally's count, when one was asked for
    credits: "CreditState | None" = None  # the key's credits, when it has some


class CreditState(NamedTuple):
    """A key's credits as the cache holds them (see ``metering.credits``)."""

    remaining: int
    refill_at: int  # epoch seconds of the next refill; 0: none
    exhausted: bool = False  # this request was refused for them: nothing was counted


class CreditSpend(NamedTuple):
    """What the script needs to spend a key's credits: seeds from the database, and the cost."""

    key_id: str
    seed_remaining: int  # the database's copy, used when the cache holds none
    seed_refill_at: int  # epoch seconds; 0: no refill
    refill_amount: int | None
    next_refill_at: int  # the refill after this second, should one be due now
    cost: int = 1


CREDITS_TTL = 35 * 86_400  # an idle key's credits are re-seeded from the database after this


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

-- Audit tally (audit.services: refused keys per address and minute). KEYS[n + 4] is the tally,
-- ARGV[base + 7] its time to live ('' for none). Counted whatever the verdict, so a refusal
-- costs one trip: the anonymous bucket and the burst counter together.
local tally = -1
if ARGV[base + 7] ~= '' then
  tally = redis.call('INCR', KEYS[n + 4])
  if tally == 1 then redis.call('EXPIRE', KEYS[n + 4], tonumber(ARGV[base + 7])) end
end

-- Credits, part 1 of 2: may this request spend them? (metering.credits). KEYS[n + 5] is the
-- key's hash {r: remaining, at: next refill epoch}; ARGV[base + 8] the cost ('' for a key
-- without credits), then the database's remaining and refill epoch (seeds when the cache holds
-- none), the refill amount ('' for none), the refill after this second, the hash's time to live.
-- A due refill happens here, lazily. Too few left: refused before any window or usage counts.
local credits, refill_at, cost = nil, 0, 0
if ARGV[base + 8] ~= '' then
  cost = tonumber(ARGV[base + 8])
  local stored = redis.call('HMGET', KEYS[n + 5], 'r', 'at')
  local changed = false
  if stored[1] then
    credits, refill_at = tonumber(stored[1]), tonumber(stored[2] or '0')
  else
    credits, refill_at, changed = tonumber(ARGV[base + 9]), tonumber(ARGV[base + 10]), true
  end
  if ARGV[base + 11] ~= '' and refill_at > 0 and tonumber(ARGV[base + 3]) >= refill_at then
    credits, refill_at, changed = tonumber(ARGV[base + 11]), tonumber(ARGV[base + 12]), true
  end
  if changed then
    redis.call('HSET', KEYS[n + 5], 'r', credits, 'at', refill_at)
    redis.call('EXPIRE', KEYS[n + 5], tonumber(ARGV[base + 13]))
  end
  if credits <= 0 or credits < cost then return {'credits', credits, refill_at, generation} end
end

local result = {}
local admitted = true
local unlisted = 0
for i = 1, n do
  local count = redis.call('INCR', KEYS[i])
  if count == 1 then redis.call('EXPIRE', KEYS[i], tonumber(ARGV[1 + 2 * i])) end
  result[i] = count
  if count > tonumber(ARGV[2 * i]) then admitted = false end
end
-- The key's usage (ARGV[base + 1]: its id, '' for none): an admitted call is used; a call
-- refused by its limits ('l:<day>') or by the key's own rules ('r:<day>', ARGV[base + 14] 'r')
-- is counted as such, for the key's usage chart.
if ARGV[base + 1] ~= '' then
  if admitted and ARGV[base + 14] ~= 'r' then
    redis.call('HINCRBY', KEYS[n + 1], 'n', 1)
    redis.call('HINCRBY', KEYS[n + 1], ARGV[base + 2], 1)
    redis.call('HSET', KEYS[n + 1], 'at', ARGV[base + 3], 'ip', ARGV[base + 4])
  else
    local kind = 'l'
    if ARGV[base + 14] == 'r' then kind = 'r' end
    redis.call('HINCRBY', KEYS[n + 1], kind .. string.sub(ARGV[base + 2], 2), 1)
  end
  if KEYS[n + 2] ~= KEYS[n + 1] then
    redis.call('SADD', KEYS[n + 2], ARGV[base + 1])
  elseif redis.call('HEXISTS', KEYS[n + 1], 'listed') == 0 then
    unlisted = 1  -- a Cluster: the caller lists it in the dirty set, then marks it listed
  end
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

-- Credits, part 2 of 2: an admitted request spends its cost.
if admitted and credits ~= nil and cost > 0 then
  credits = redis.call('HINCRBY', KEYS[n + 5], 'r', -cost)
  redis.call('EXPIRE', KEYS[n + 5], tonumber(ARGV[base + 13]))
end

result[n + 1] = generation
result[n + 2] = tally
result[n + 3] = credits or -1
result[n + 4] = refill_at
result[n + 5] = unlisted
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

# On a Cluster, after the key's id went into the dirty set: mark the buffer listed, unless a flush
# took it meanwhile (a new buffer is listed by the count that starts it).
_MARK_LISTED_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'listed', '1') end
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
if KEYS[2] then redis.call('SREM', KEYS[2], ARGV[1]) end
return fields
"""


class RedisBackend:
    """One Redis, a Sentinel-managed master, or a Redis Cluster (``core.redis_topology``).

    On a Cluster each trip's keys carry one hash tag (``metering.keys``), and what cannot share
    the trip's slot goes in a trip of its own. The dirty set (one, global) gets a key's id after
    a count that finds the buffer not yet ``listed`` — two more trips, once per key and flush —
    so a worker killed between its count and that ``SADD`` leaves the buffer to the key's next
    count to list. A generation of another entity than the trip's (a refusal counted in the
    address's bucket) is read in a trip before it.
    """

    buffers_in_process = False  # the usage buffer is Redis, flushed by ``flushusage``

    def __init__(self):
        self._client = get_redis_connection("default")
        self._cluster = is_cluster(self._client)
        self._usage_tags: dict[str, str] = {}  # on a Cluster: key id -> its buffer's tag
        self._count = self._client.register_script(_COUNT_SCRIPT)
        self._take = self._client.register_script(_TAKE_SCRIPT)
        self._settle = self._client.register_script(_SETTLE_SCRIPT)
        self._mark_listed = self._client.register_script(_MARK_LISTED_SCRIPT)
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
        runner = fastpath.PublicScriptRunner if self._cluster else fastpath.script_runner
        self._run_count = runner(
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
        tally: Tally | None = None,
        credits: CreditSpend | None = None,
        tag=None,
        refused=False,
        shadow: Shadow | None = None,
    ) -> Counted:
        """Count one request; ``counts`` is ``None`` when ``expected_generation`` is stale or
        the key's credits are exhausted (``credits.exhausted``).

        ``refused``: the key's own rules refused the call; it is recorded as refused, not used.
        ``shadow``: the key's proposals' verdicts and route (``apikeys.shadow``), judged in the
        same trip; not on a Cluster, whose one shadow dirty set lies in no trip's slot
        (docs/deploy.md, *Topologies*).
        """
        if refused and self._cluster:
            # The refusal's trip is in the address's slot, not the key's buffer's: on a Cluster
            # the key's chart does not show calls its own rules refused (docs/limits.md).
            usage_key_id = None
        read_apart = self._cluster and not same_slot(tag, generation_of)
        generation = None
        if read_apart:  # a Cluster, and the generation lies in another slot: its own trip first
            generation = self.generation_get(generation_of)
            if expected_generation and generation != expected_generation:
                return Counted(None, generation)
            generation_of = None
        head = self._script_head(
            counters,
            usage_key_id,
            generation_of,
            tally.key if tally else None,
            credits.key_id if credits else None,
            tag,
        )
        args = (
            usage_key_id or "",
            f"d:{_day(int(now) // 86400)}",
            int(now),
            ip or "",
            "1" if generation_of else "0",
            "" if read_apart else (expected_generation or ""),
            tally.ttl if tally else "",
            *(_credit_args(credits) if credits else _NO_CREDIT_ARGS),
            "r" if refused else "",
        )
        if shadow is None or not usage_key_id or self._cluster:
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
        if result[0] == b"stale":
            return Counted(None, _text(result[1]) or None)
        if result[0] == b"credits":
            state = CreditState(int(result[1]), int(result[2]), exhausted=True)
            if not read_apart:
                generation = _text(result[3]) or None
            return Counted(None, generation, credits=state)
        n = len(counters)
        if not read_apart:
            generation = _text(result[n]) or None
        if self._cluster and result[n + 4] == 1:
            try:
                self._list_usage(usage_key_id, tag)
            except CACHE_ERRORS:  # counted already: the key's next count lists it
                logger.warning("usage buffer not listed yet: cache unavailable")
        tally_count = int(result[n + 1])
        state = CreditState(int(result[n + 2]), int(result[n + 3])) if credits else None
        return Counted(
            [int(c) for c in result[:n]],
            generation,
            tally_count if tally_count >= 0 else None,
            state,
        )

    def _script_head_of(
        self, counters, usage_key_id, generation_of, tally_key=None, credits_of=None, tag=None
    ) -> tuple:
        """The script's keys and the windows' limits: the same until one of the windows ends."""
        tag = tag or "-"
        keys = [self._make_key(c.key) for c in counters]
        usage = self._make_key(tagged(tag, f"usage:{usage_key_id or '-'}"))
        keys += [
            usage,
            usage if self._cluster else self._dirty_set,  # the Cluster lists it apart
            self._make_key(tagged(tag, f"gen:{generation_of or '-'}")),
            self._make_key(tagged(tag, tally_key or "tally:-")),
            self._credits_key(credits_of or "-", tag),
        ]
        limits = [len(counters)]
        for counter in counters:
            limits += [counter.limit, counter.ttl]
        return (len(keys), *keys, *limits)

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
        if self._cluster:  # nothing is judged on a Cluster (``count``): nothing to flush
            return []
        return [m.decode() for m in self._client.smembers(self._shadow_dirty_set)]

    def shadow_take(self, key_id: str) -> ShadowPending:
        if self._cluster:
            return ShadowPending()
        fields, recent = self._shadow_take(keys=list(self._shadow_keys(key_id)), args=[key_id])
        values = {_text(fields[i]): _text(fields[i + 1]) for i in range(0, len(fields), 2)}
        return _shadow_from_fields(values, [_text(entry) for entry in recent])

    def shadow_restore(self, key_id: str, pending: ShadowPending) -> None:
        if self._cluster:
            return
        hash_key, recent_key, dirty = self._shadow_keys(key_id)
        with self._client.pipeline(transaction=True) as pipe:
            for field_name, n in _shadow_fields(pending).items():
                pipe.hincrby(hash_key, field_name, n)
            if pending.recent:
                pipe.rpush(recent_key, *pending.recent)
                pipe.ltrim(recent_key, 0, RECENT_MAX - 1)
            pipe.sadd(dirty, key_id)
            pipe.execute()

    def _credits_key(self, key_id: str, tag: str) -> str:
        """A key's credits, in the slot of its trips (``tag``: ``key:<hash>``, metering.keys);
        the usage flush knows a key by id only, and its buffer's tag names the same slot."""
        if tag == "-" and self._cluster:
            tag = self._usage_tags.get(key_id, "-")
        return self._make_key(tagged(tag, f"credits:{key_id}"))

    def credits_peek(self, key_id: str, tag: str = "-") -> CreditState | None:
        remaining, refill_at = self._client.hmget(self._credits_key(key_id, tag), "r", "at")
        if remaining is None:
            return None
        return CreditState(int(remaining), int(refill_at or 0))

    def credits_set(self, key_id: str, state: CreditState | None, tag: str = "-") -> None:
        """Put a key's credits in the cache (``None``: drop them, the key has none now)."""
        key = self._credits_key(key_id, tag)
        if state is None:
            self._client.delete(key)
            return
        with self._client.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"r": state.remaining, "at": state.refill_at})
            pipe.expire(key, CREDITS_TTL)
            pipe.execute()

    def peek(self, counters) -> list[int]:
        values = self._client.mget([self._make_key(c.key) for c in counters]) if counters else []
        return [int(v or 0) for v in values]

    def usage_dirty_ids(self) -> list[str]:
        members = [m.decode() for m in self._client.smembers(self._dirty_set)]
        if not self._cluster:
            return members
        ids = []
        for member in members:  # "<key id> <tag>": the tag names the buffer's slot
            key_id, _, tag = member.partition(" ")
            self._usage_tags[key_id] = tag
            ids.append(key_id)
        return ids

    def usage_take(self, key_id: str) -> Pending:
        if not self._cluster:
            raw = self._take(keys=[self._usage_key(key_id), self._dirty_set], args=[key_id])
        else:
            raw = self._take_apart(key_id)
        values = {raw[i].decode(): raw[i + 1].decode() for i in range(0, len(raw), 2)}
        return _pending_from_fields(values)

    def _take_apart(self, key_id: str) -> list:
        """On a Cluster: unlist first, then take; a count in between adds to what is taken."""
        tag = self._usage_tags.get(key_id)
        if tag is None:
            self.usage_dirty_ids()
            tag = self._usage_tags.get(key_id)
            if tag is None:
                return []  # not listed: nothing buffered
        member = f"{key_id} {tag}"
        self._client.srem(self._dirty_set, member)
        try:
            return self._take(keys=[self._usage_key(key_id, tag)], args=[key_id])
        except BaseException:
            self._client.sadd(self._dirty_set, member)  # still buffered, so still listed
            raise

    def _list_usage(self, key_id: str, tag: str) -> None:
        """On a Cluster: list a key's buffer in the one dirty set, then mark it listed."""
        self._client.sadd(self._dirty_set, f"{key_id} {tag}")
        self._mark_listed(keys=[self._usage_key(key_id, tag)])

    def usage_restore(self, key_id: str, pending: Pending) -> None:
        tag = self._usage_tags.get(key_id, "-")
        key = self._usage_key(key_id, tag)
        with self._client.pipeline(transaction=True) as pipe:
            pipe.hincrby(key, "n", pending.count)
            for day, n in pending.days.items():
                pipe.hincrby(key, f"d:{day}", n)
            for kind, days in (("l", pending.limited), ("r", pending.refused)):
                for day, n in days.items():
                    pipe.hincrby(key, f"{kind}:{day}", n)
            if pending.last_at is not None:
                pipe.hsetnx(key, "at", pending.last_at)
                pipe.hsetnx(key, "ip", pending.last_ip or "")
            if not self._cluster:
                pipe.sadd(self._dirty_set, key_id)
            pipe.execute()
        if self._cluster:
            self._list_usage(key_id, tag)

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
        if self._cluster:  # one slot per record: one call each
            for key_id in key_ids:
                self._settle(
                    keys=[self._generation_key(key_id)],
                    args=[marker, GENERATION_TTL, secrets.token_hex(8)],
                )
            return
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

    def _usage_key(self, key_id: str, tag: str = "-") -> str:
        return self._make_key(tagged(tag, f"usage:{key_id}"))

    def _generation_key(self, key_id: str) -> str:
        return self._make_key(tagged(key_id, f"gen:{key_id}"))


class CacheBackend:
    """One process's usage buffer; counters and generations in the configured Django cache."""

    buffers_in_process = True  # so the server flushes it itself (``apikeys.usage``)

    def __init__(self):
        self._lock = threading.Lock()
        self._usage: dict[str, Pending] = defaultdict(Pending)
        self._cache = caches["default"]
        self._credits_lock = threading.Lock()
        self._shadow: dict[str, ShadowPending] = defaultdict(ShadowPending)
        self._routes_today: dict[str, tuple[str, int]] = {}  # key id -> (day, routes added)

    def count(
        self,
        counters,
        *,
        usage_key_id,
        generation_of,
        ip,
        now,
        expected_generation=None,
        tally: Tally | None = None,
        credits: CreditSpend | None = None,
        tag=None,
        refused=False,
        shadow: Shadow | None = None,
    ) -> Counted:
        cache = self._cache
        generation = cache.get(f"gen:{generation_of}") if generation_of else None
        if expected_generation and generation != expected_generation:
            return Counted(None, generation)
        tally_count = self._incr(tally.key, tally.ttl) if tally else None
        if credits is None:
            counts = [self._incr(counter.key, counter.ttl) for counter in counters]
            admitted = all(n <= c.limit for n, c in zip(counts, counters, strict=True))
            self._record_use(usage_key_id, admitted=admitted, refused=refused, ip=ip, now=now)
            self._judge_shadow(usage_key_id, shadow, admitted, ip=ip, now=now)
            return Counted(counts, generation, tally_count)
        # Credits: exact within this process (its lock); a cache without scripts cannot make
        # them exact across processes, which is what Redis is for.
        with self._credits_lock:
            name = f"credits:{credits.key_id}"
            held = cache.get(name)
            state, changed = credit_state_now(
                CreditState(*held) if held else None, credits, int(now)
            )
            if changed:
                cache.set(name, tuple(state[:2]), CREDITS_TTL)
            if not can_spend(state, credits.cost):
                return Counted(None, generation, tally_count, state._replace(exhausted=True))
            counts = [self._incr(counter.key, counter.ttl) for counter in counters]
            admitted = all(n <= c.limit for n, c in zip(counts, counters, strict=True))
            if admitted and credits.cost:
                state = state._replace(remaining=state.remaining - credits.cost)
                cache.set(name, tuple(state[:2]), CREDITS_TTL)
        self._record_use(usage_key_id, admitted=admitted, refused=refused, ip=ip, now=now)
        self._judge_shadow(usage_key_id, shadow, admitted, ip=ip, now=now)
        return Counted(counts, generation, tally_count, state)

    def _incr(self, key: str, ttl: int) -> int:
        cache = self._cache
        if cache.add(key, 1, ttl):
            return 1
        try:
            return cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, ttl)
            return 1

    def _count_counter(self, counter: Counter, now: float) -> int:
        return self._incr(counter.key, counter.ttl)

    def _judge_shadow(self, key_id, shadow: Shadow | None, admitted, *, ip, now) -> None:
        if key_id and shadow is not None:
            rules = [self._shadow_rule(judged, now) for judged in shadow.proposals]
            with self._lock:
                self._add_shadow(key_id, shadow, rules, admitted, ip=ip, now=now)

    def _shadow_rule(self, judged: ShadowJudged, now: float) -> str:
        """The proposal's rule after its own windows are counted (as the Redis script does)."""
        rule = judged.rule
        for counter in judged.counters:
            if self._count_counter(counter, now) > counter.limit and rule == "":
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

    def credits_peek(self, key_id: str, tag: str = "-") -> CreditState | None:
        held = self._cache.get(f"credits:{key_id}")
        return CreditState(*held) if held else None

    def credits_set(self, key_id: str, state: CreditState | None, tag: str = "-") -> None:
        with self._credits_lock:
            if state is None:
                self._cache.delete(f"credits:{key_id}")
            else:
                self._cache.set(f"credits:{key_id}", tuple(state[:2]), CREDITS_TTL)

    def peek(self, counters) -> list[int]:
        return [int(self._cache.get(c.key) or 0) for c in counters]

    def _record_use(self, key_id, *, admitted, refused, ip, now) -> None:
        if key_id:
            with self._lock:
                self._record(key_id, admitted=admitted, refused=refused, ip=ip, now=now)

    def _record(self, key_id: str, *, admitted, refused, ip, now) -> None:  # under ``_lock``
        if admitted and not refused:
            self._add_use(key_id, ip=ip, now=now)
        else:
            self._usage[key_id].add_missed("r" if refused else "l", _day(int(now) // 86400))

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
            for mine, theirs in (
                (current.limited, pending.limited),
                (current.refused, pending.refused),
            ):
                for day, n in theirs.items():
                    mine[day] = mine.get(day, 0) + n
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
        self._credits: dict[str, CreditState] = {}  # key id -> its credits (metering.credits)
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
        tally: Tally | None = None,
        credits: CreditSpend | None = None,
        tag=None,  # a Cluster's hash slot: nothing to place here
        refused=False,
        shadow: Shadow | None = None,
    ) -> Counted:
        with self._lock:
            generation = self._generation(generation_of) if generation_of else None
            if expected_generation and generation != expected_generation:
                return Counted(None, generation)
            tally_count = self._incr(tally.key, tally.ttl, now) if tally else None
            state = None
            if credits is not None:  # the script's credits block, under the one lock
                state, _ = credit_state_now(self._credits.get(credits.key_id), credits, int(now))
                self._credits[credits.key_id] = state
                if not can_spend(state, credits.cost):
                    return Counted(None, generation, tally_count, state._replace(exhausted=True))
            counts, admitted = [], True
            for counter in counters:
                count = self._incr(counter.key, counter.ttl, now)
                counts.append(count)
                admitted = admitted and count <= counter.limit
            if usage_key_id:
                self._record(usage_key_id, admitted=admitted, refused=refused, ip=ip, now=now)
            if state is not None and admitted and credits.cost:
                state = state._replace(remaining=state.remaining - credits.cost)
                self._credits[credits.key_id] = state
            if usage_key_id and shadow is not None:
                rules = [self._shadow_rule(judged, now) for judged in shadow.proposals]
                self._add_shadow(usage_key_id, shadow, rules, admitted, ip=ip, now=now)
            if len(self._counters) > self._prune_at:
                self._prune(now)
        return Counted(counts, generation, tally_count, state)

    def _count_counter(self, counter: Counter, now: float) -> int:  # under ``_lock``
        return self._incr(counter.key, counter.ttl, now)

    def _incr(self, key: str, ttl: int, now: float) -> int:  # under ``_lock``
        count, expires_at = self._counters.get(key, (0, 0.0))
        if expires_at <= now:
            count, expires_at = 0, now + ttl
        count += 1
        self._counters[key] = (count, expires_at)
        return count

    def credits_peek(self, key_id: str, tag: str = "-") -> CreditState | None:
        with self._lock:
            return self._credits.get(key_id)

    def credits_set(self, key_id: str, state: CreditState | None, tag: str = "-") -> None:
        with self._lock:
            if state is None:
                self._credits.pop(key_id, None)
            else:
                self._credits[key_id] = CreditState(state.remaining, state.refill_at)

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


SHADOW_DIRTY_SET = "shadow:dirty"
DIRTY_SET = "usage:dirty"
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


_active_lock = threading.Lock()
_active: list = []  # the one backend of this process, once built


def active():
    """The backend for the configured default cache (built once; reset when settings change).

    One per process, even when the first requests after a start (or a settings change) come in
    on several threads at once: each building its own would split the embedded default's
    counters and credits between them.
    """
    if _active:
        return _active[0]
    with _active_lock:
        if not _active:
            _active.append(_backend_for(caches["default"]))  # ``cache`` is a proxy: the real one
    return _active[0]


def _backend_for(default):
    if isinstance(default, RedisCache):
        return RedisBackend()
    if isinstance(default, LocMemCache):
        return MemoryBackend()
    return CacheBackend()


active.cache_clear = _active.clear  # as a memoized function's: the next call builds anew


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


def credit_state_now(held: CreditState | None, spend: CreditSpend, now: int):
    """The credits as they stand at ``now``: seeded when none are held, refilled when due.

    Returns ``(state, changed)``. The Redis script's credits block does the same in Lua.
    """
    changed = held is None
    state = held or CreditState(spend.seed_remaining, spend.seed_refill_at)
    if spend.refill_amount is not None and 0 < state.refill_at <= now:
        state, changed = CreditState(spend.refill_amount, spend.next_refill_at), True
    return CreditState(state.remaining, state.refill_at), changed


def can_spend(state: CreditState, cost: int) -> bool:
    """At zero nothing is admitted, whatever the cost; otherwise the cost must be there."""
    return state.remaining > 0 and state.remaining >= cost


def _credit_args(spend: CreditSpend) -> tuple:
    return (
        spend.cost,
        spend.seed_remaining,
        spend.seed_refill_at,
        "" if spend.refill_amount is None else spend.refill_amount,
        spend.next_refill_at,
        CREDITS_TTL,
    )


_NO_CREDIT_ARGS = ("", 0, 0, "", 0, CREDITS_TTL)


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _pending_from_fields(values: dict[str, str]) -> Pending:
    pending = Pending()
    for name, value in values.items():
        if name == "n":
            pending.count = int(value)
        elif name.startswith("d:"):
            pending.days[name[2:]] = int(value)
        elif name.startswith("l:"):
            pending.limited[name[2:]] = int(value)
        elif name.startswith("r:"):
            pending.refused[name[2:]] = int(value)
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

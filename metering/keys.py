"""The one rule for naming Redis keys that a script touches together: hash tags on a Cluster.

A Redis Cluster runs a script only when every key it names lies in one hash slot (else
``CROSSSLOT``). A key's slot comes from its *hash tag*, the part between the first ``{`` and
the next ``}``, so names that share a tag share a slot. Every name a per-request script uses is
built here, tagged with the *entity* the trip is about (``Meter.tag``: the record whose
generation it reads — ``key:<hash>`` for an API key, ``user:<id>`` for a person — or else its
bucket, ``ip:<address>``, ``client:<id>``):

    tagged("key:ab12", "rl:<sha256>")   ->  "{key:ab12}rl:<sha256>"    (on a Cluster)
    tagged("key:ab12", "rl:<sha256>")   ->  "rl:<sha256>"              (anywhere else)

**A new block in** ``metering.backends._COUNT_SCRIPT`` **with new KEYS** names each of them
with ``tagged(tag, name)``, ``tag`` being the one the script head already uses, and so stays in
the trip's slot. A name that belongs to another entity cannot: read it in its own trip (as the
backend does for a refusal's generation, ``RedisBackend.count``).

Only on a Cluster: elsewhere the names stay exactly django-ratelimit's (``meter.counter_key``),
so its ``get_usage`` keeps reading the counters the meter writes, and nothing moves for an
existing installation. Whether the cache is a Cluster is read from the settings at call time
(``core.redis_topology``: a ``redis+cluster://`` ``REDIS_URL`` sets its connection factory).
"""

from functools import lru_cache

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from core.redis_topology import CLUSTER_FACTORY


def tagged(entity: str, name: str) -> str:
    """``name`` in ``entity``'s hash slot on a Cluster; ``name`` itself anywhere else."""
    if not on_cluster():
        return name
    return f"{{{entity}}}{name}"


def api_key_entity(key_hash: str) -> str:
    """An API key's entity (its trips' tag, and its record's cache key): ``key:<keyed hash>``."""
    return f"key:{key_hash}"


def same_slot(entity: str, other: str | None) -> bool:
    """Whether names tagged with ``entity`` and with ``other`` may share one script."""
    return other is None or other == entity or not on_cluster()


@lru_cache(maxsize=1)
def on_cluster() -> bool:
    """Whether the default cache is a Redis Cluster (memoized; reset when CACHES change)."""
    options = settings.CACHES["default"].get("OPTIONS") or {}
    return options.get("CONNECTION_FACTORY") == CLUSTER_FACTORY


@receiver(setting_changed)
def _reset(*, setting, **kwargs):
    if setting == "CACHES":
        on_cluster.cache_clear()

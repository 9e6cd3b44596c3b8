"""What a cache outage looks like, in one place; and a counter another room asks the meter to keep.

Every surface that needs the shared cache (login limits, metering, bootstrap, the token
endpoint, status) catches exactly these and applies its own documented policy.
"""

from typing import NamedTuple

from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import RedisError

# django-redis wraps connection errors in ConnectionInterrupted; raw clients (our Lua calls)
# raise redis-py's errors; socket-level failures surface as OSError.
CACHE_ERRORS = (ConnectionInterrupted, RedisError, OSError)


class Tally(NamedTuple):
    """A counter that only counts, kept by ``metering.meter.take`` in the same trip as the
    request's own count (the audit's refused keys per address): any room may hand one over
    without knowing how the meter stores it."""

    key: str
    ttl: int

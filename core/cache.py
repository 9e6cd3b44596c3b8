"""What a cache outage looks like, in one place.

Every surface that needs the shared cache (login limits, metering, bootstrap, the token
endpoint, status) catches exactly these and applies its own documented policy.
"""

from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import RedisError

# django-redis wraps connection errors in ConnectionInterrupted; raw clients (our Lua calls)
# raise redis-py's errors; socket-level failures surface as OSError.
CACHE_ERRORS = (ConnectionInterrupted, RedisError, OSError)

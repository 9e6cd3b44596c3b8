"""``REDIS_URL`` in its three shapes: one server, Sentinel, Cluster — as a django-redis cache.

* ``redis://host:6379/0`` (or ``rediss://``): one Redis, as before.
* ``redis+sentinel://[:password@]host:26379,host2:26379/<service>/<db>``: the master that the
  sentinels name for ``<service>``, found again on every reconnect. Served by django-redis's own
  ``SentinelConnectionFactory``, but with the default client, not ``SentinelClient``: that one
  sends reads to replicas, which lag the master, and a revoked key's generation read from a
  replica could still be the old one (SPEC §10: a narrowing change is everywhere at once).
* ``redis+cluster://[:password@]host:7000,host2:7001``: a Redis Cluster (database 0 only).
  django-redis 7 has no cluster support, so ``ClusterConnectionFactory`` hands it redis-py's
  ``RedisCluster`` (which follows ``MOVED``/``ASK`` and failovers on its own), and
  ``ClusterClient`` reads several keys slot by slot. Keyward's own multi-key scripts name their
  keys with hash tags (``metering.keys``), so each runs in one slot.

Used by ``config/settings.py`` before Django is set up: nothing here touches models.
"""

from urllib.parse import unquote, urlsplit

from django_redis.client.default import DefaultClient
from django_redis.exceptions import ConnectionInterrupted
from django_redis.pool import ConnectionFactory
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import RedisError
from redis.retry import Retry

SENTINEL_SCHEME = "redis+sentinel"
CLUSTER_SCHEME = "redis+cluster"
CLUSTER_FACTORY = "core.redis_topology.ClusterConnectionFactory"


def cache_location(url: str) -> tuple[str | list[str], dict]:
    """django-redis's ``LOCATION`` for ``url`` and the ``OPTIONS`` its shape needs."""
    parts = urlsplit(url)
    if parts.scheme == SENTINEL_SCHEME:
        service, _, db = parts.path.strip("/").partition("/")
        if not service:
            raise ValueError("a redis+sentinel:// URL names its service: /<service>/<db>")
        options = {
            "CONNECTION_FACTORY": "django_redis.pool.SentinelConnectionFactory",
            "SENTINELS": _hosts(parts.netloc, default_port=26379),
        }
        if parts.password:
            options["PASSWORD"] = unquote(parts.password)
        return f"redis://{service}/{db or 0}", options
    if parts.scheme == CLUSTER_SCHEME:
        if parts.path.strip("/") not in ("", "0"):
            raise ValueError("a Redis Cluster has database 0 only")
        options = {
            "CONNECTION_FACTORY": CLUSTER_FACTORY,
            "CLIENT_CLASS": "core.redis_topology.ClusterClient",
        }
        if parts.password:
            options["PASSWORD"] = unquote(parts.password)
        return [url], options  # a list: django-redis splits a string's commas into servers
    return url, {}


def is_cluster(client) -> bool:
    return isinstance(client, RedisCluster)


def _hosts(netloc: str, *, default_port: int) -> list[tuple[str, int]]:
    hosts = []
    for item in netloc.rpartition("@")[2].split(","):
        host, _, port = item.rpartition(":") if ":" in item else (item, "", "")
        hosts.append((host, int(port or default_port)))
    return hosts


class ClusterConnectionFactory(ConnectionFactory):
    """One ``RedisCluster`` per URL and process, in place of a connection pool."""

    _clusters: dict[str, RedisCluster] = {}

    def get_connection(self, params):
        url = params["url"]
        client = self._clusters.get(url)
        if client is None:
            parts = urlsplit(url)
            kwargs = {k: v for k, v in params.items() if k not in ("url", "parser_class")}
            hosts = _hosts(parts.netloc, default_port=6379)
            client = RedisCluster(
                startup_nodes=[ClusterNode(host, port) for host, port in hosts],
                # No retry of its own: a script whose reply timed out may have run, and sending
                # it again would count a request twice (the callers decide, as on one server).
                retry=Retry(NoBackoff(), 0),
                **kwargs,
            )
            self._clusters[url] = client
        return client

    def disconnect(self, connection) -> None:
        connection.disconnect_connection_pools()


class ClusterClient(DefaultClient):
    """django-redis's client, reading several keys slot by slot (``MGET`` spans one slot)."""

    def get_many(self, keys, version=None, client=None):
        if client is None:
            client = self.get_client(write=False)
        if not keys:
            return {}
        map_keys = {self.make_key(k, version=version): k for k in keys}
        try:
            values = client.mget_nonatomic(list(map_keys))
        except RedisError as exc:
            raise ConnectionInterrupted(connection=client) from exc
        return {
            map_keys[key]: self.decode(value)
            for key, value in zip(map_keys, values, strict=True)
            if value is not None
        }

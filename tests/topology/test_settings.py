"""The topology settings read from the environment: REDIS_URL's shapes, hash tags, PgBouncer."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import override_settings

from core.redis_topology import CLUSTER_FACTORY, cache_location
from metering import keys

ROOT = Path(__file__).resolve().parents[2]
CLUSTER_CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": ["redis+cluster://127.0.0.1:7000"],
        "OPTIONS": {"CONNECTION_FACTORY": CLUSTER_FACTORY},
    }
}


def test_a_plain_redis_url_is_used_as_it_is():
    assert cache_location("redis://127.0.0.1:6379/3") == ("redis://127.0.0.1:6379/3", {})


def test_a_sentinel_url_names_the_service_and_lists_the_sentinels():
    location, options = cache_location("redis+sentinel://s1:26379,s2:26380,s3/keyward/2")

    assert location == "redis://keyward/2"
    assert options["SENTINELS"] == [("s1", 26379), ("s2", 26380), ("s3", 26379)]
    assert options["CONNECTION_FACTORY"] == "django_redis.pool.SentinelConnectionFactory"
    assert "CLIENT_CLASS" not in options  # SentinelClient would read from lagging replicas


def test_a_sentinel_url_carries_the_masters_password():
    _, options = cache_location("redis+sentinel://:s%40cret@s1:26379/keyward/0")

    assert options["PASSWORD"] == "s@cret"
    assert options["SENTINELS"] == [("s1", 26379)]


def test_a_sentinel_url_without_a_service_is_refused():
    with pytest.raises(ValueError, match="names its service"):
        cache_location("redis+sentinel://s1:26379")


def test_a_cluster_url_is_one_location_with_the_cluster_factory():
    location, options = cache_location("redis+cluster://n1:7000,n2:7001")

    assert location == ["redis+cluster://n1:7000,n2:7001"]  # not split into servers
    assert options["CONNECTION_FACTORY"] == CLUSTER_FACTORY
    assert options["CLIENT_CLASS"] == "core.redis_topology.ClusterClient"


def test_a_cluster_url_with_a_database_other_than_0_is_refused():
    with pytest.raises(ValueError, match="database 0"):
        cache_location("redis+cluster://n1:7000/3")


def test_names_carry_no_hash_tag_off_a_cluster():
    assert keys.tagged("key:abc", "rl:123") == "rl:123"
    assert keys.same_slot("ip:1.2.3.4", "key:abc")


def test_names_carry_the_entitys_hash_tag_on_a_cluster():
    with override_settings(CACHES=CLUSTER_CACHES):
        assert keys.tagged("key:abc", "rl:123") == "{key:abc}rl:123"
        assert keys.same_slot("key:abc", "key:abc")
        assert keys.same_slot("ip:1.2.3.4", None)
        assert not keys.same_slot("ip:1.2.3.4", "key:abc")


def test_a_keys_counters_usage_and_generation_share_the_keys_tag():
    from identity.policy import cache_key_of_key, meter_for_key

    class Key:
        pk = "0d6c"
        key_hash = "ab12"
        rate_limit = None
        key_type = "development"
        credits_remaining = None  # no credits: nothing else is tagged

    meter = meter_for_key(Key())

    assert meter.tag == meter.generation_of == cache_key_of_key("ab12")


def settings_under(**environment) -> str:
    code = (
        "import json; from config import settings as s; "
        "d = s.DATABASES['default']; "
        "print(json.dumps([d.get('DISABLE_SERVER_SIDE_CURSORS', False), "
        "d['OPTIONS'].get('prepare_threshold', 'unset'), "
        "d['OPTIONS'].get('server_side_binding', 'unset')]))"
    )
    env = {**os.environ, "SECRET_KEY": "x" * 50, **environment}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def test_database_pgbouncer_turns_server_side_cursors_and_prepared_statements_off():
    url = "postgres://u@127.0.0.1:6432/keyward"

    assert settings_under(DATABASE_URL=url, DATABASE_PGBOUNCER="true") == "[true, null, false]"
    assert settings_under(DATABASE_URL=url) == '[false, "unset", "unset"]'

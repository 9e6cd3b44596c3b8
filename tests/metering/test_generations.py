"""Generations in the shared cache expire, and a record is never trusted past its generation.

Nothing a request creates in Redis stays forever (SPEC §9): a generation lives a day at most,
and one created only for a record that exists. A generation that expires under a cached record
makes the next request read the record again, never serve the cached copy unchecked.
"""

import pytest
from django_redis import get_redis_connection

from apikeys.models import ApiKey
from metering import backends
from metering.backends import GENERATION_TTL
from tests.apikeys.conftest import INFO_URL, key_client, make_api_key
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.redis]

VERIFY = "/api/v1/auth/verify"


def generation_names(redis):
    return [name for name in redis.scan_iter(match="*gen:*")]


def test_a_bumped_generation_lives_a_day_at_most():
    backends.active().generation_bump("key:abc")

    (name,) = generation_names(get_redis_connection("default"))
    assert 0 < get_redis_connection("default").ttl(name) <= GENERATION_TTL


def test_a_key_in_use_has_a_generation_that_expires():
    _, raw = make_api_key(UserFactory())
    key_client(raw).get(INFO_URL)
    redis = get_redis_connection("default")

    names = generation_names(redis)
    assert names
    assert all(0 < redis.ttl(name) <= GENERATION_TTL for name in names)


def test_a_cached_key_whose_generation_expired_is_read_again():
    api_key, raw = make_api_key(UserFactory(), scopes=["read:all"])
    client = key_client(raw)
    assert client.get(VERIFY).json()["scopes"] == ["read:all"]  # answered from the cached key
    redis = get_redis_connection("default")
    # Narrowed behind the cache's back (no signal, no bump), then the generation expires.
    ApiKey.objects.filter(pk=api_key.pk).update(scopes=["tenants:read"])
    redis.delete(*generation_names(redis))

    assert client.get(VERIFY).json()["scopes"] == ["tenants:read"]

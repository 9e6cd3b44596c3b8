"""SPEC §9: refusing is cheap and leaves nothing behind.

The checksum is public, so anyone can make well-formed keys. Once a process has met one unknown
key, every other costs no database query, and none of them leaves anything in the shared cache
that does not expire. A key created after its refusal, here or in another process, works at once.
"""

from datetime import timedelta

import pytest
import time_machine
from django.test import override_settings
from django.utils import timezone
from django_redis import get_redis_connection

from apikeys import crypto, known_keys
from apikeys.services import api_key_delete
from audit.models import AuditEvent
from tests.apikeys.conftest import INFO_URL, key_client, make_api_key
from tests.metering.test_limits_api import UNREACHABLE_REDIS

pytestmark = pytest.mark.django_db


def invented_key() -> str:
    """A well-formed key with a valid checksum that was never issued."""
    return crypto.generate_key()


def refused_as_invalid(response) -> bool:
    return response.status_code == 401 and response.json()["code"] == "invalid_api_key"


def test_a_flood_of_invented_keys_costs_no_query_once_warm(user, django_assert_num_queries):
    make_api_key(user)
    assert refused_as_invalid(key_client(invented_key()).get(INFO_URL))

    with django_assert_num_queries(0):
        # From several addresses: one address's tenth refusal in a minute writes a burst row.
        responses = [
            key_client(invented_key()).get(INFO_URL, REMOTE_ADDR=f"203.0.113.{n % 5}")
            for n in range(40)
        ]

    assert all(refused_as_invalid(response) for response in responses)


def test_a_flood_of_invented_keys_is_still_counted_in_the_addresss_bucket(user, settings):
    settings.KEYWARD_ANON_RATE_PER_IP = "3/m"
    make_api_key(user)

    codes = [key_client(invented_key()).get(INFO_URL).status_code for _ in range(4)]

    assert codes == [401, 401, 401, 429]


def test_a_key_created_after_its_refusal_works_at_once(user, monkeypatch):
    raw = invented_key()
    assert refused_as_invalid(key_client(raw).get(INFO_URL))
    assert refused_as_invalid(key_client(raw).get(INFO_URL))  # refused from the process copy

    monkeypatch.setattr(crypto, "generate_key", lambda: raw)
    make_api_key(user)

    assert key_client(raw).get(INFO_URL).status_code == 200


def test_a_key_created_by_another_process_is_found_through_the_shared_generation(
    user, monkeypatch, django_capture_on_commit_callbacks
):
    raw = invented_key()
    key_client(raw).get(INFO_URL)
    assert refused_as_invalid(key_client(raw).get(INFO_URL))
    copy_of_another_process = known_keys._known

    monkeypatch.setattr(crypto, "generate_key", lambda: raw)
    with django_capture_on_commit_callbacks(execute=True):
        make_api_key(user)
    known_keys._known = copy_of_another_process  # it knows nothing of this process's save

    assert key_client(raw).get(INFO_URL).status_code == 200


def test_a_deleted_key_costs_no_query_once_its_deletion_is_known(
    user, django_capture_on_commit_callbacks, django_assert_num_queries
):
    api_key, raw = make_api_key(user)
    key_client(invented_key()).get(INFO_URL)  # the stored hashes read, the key's among them
    with django_capture_on_commit_callbacks(execute=True):
        api_key_delete(api_key=api_key, actor=user)
    assert refused_as_invalid(key_client(raw).get(INFO_URL))  # the hashes read again

    with django_assert_num_queries(0):
        responses = [key_client(raw).get(INFO_URL) for _ in range(3)]

    assert all(refused_as_invalid(response) for response in responses)


def test_a_key_stored_under_a_retired_pepper_is_not_refused_as_unknown(user, settings):
    settings.KEYWARD_KEY_PEPPER = "the-old-pepper-0123456789abcdef"
    _, raw = make_api_key(user)
    settings.KEYWARD_KEY_PEPPER = "the-new-pepper-0123456789abcdef"
    settings.KEYWARD_KEY_PEPPER_FALLBACKS = ["the-old-pepper-0123456789abcdef"]
    key_client(invented_key()).get(INFO_URL)  # the process now holds every stored hash

    assert key_client(raw).get(INFO_URL).status_code == 200


@pytest.mark.redis
def test_a_flood_of_invented_keys_leaves_nothing_without_expiry_in_the_shared_cache(user):
    redis = get_redis_connection("default")

    for n in range(30):
        key_client(invented_key()).get(INFO_URL, REMOTE_ADDR=f"198.51.100.{n}")

    names = list(redis.scan_iter(count=1000))
    assert names  # the refusals were counted
    assert [name for name in names if redis.ttl(name) < 0] == []


@pytest.mark.redis
def test_an_invented_key_creates_no_generation_in_the_shared_cache(user):
    redis = get_redis_connection("default")

    key_client(invented_key()).get(INFO_URL)  # the first one is looked up in the database

    assert [name for name in redis.scan_iter(match="*gen:key:*")] == []


def test_a_burst_of_invented_keys_is_audited_once_not_per_request(user):
    make_api_key(user)

    for _ in range(12):
        key_client(invented_key()).get(INFO_URL)

    bursts = AuditEvent.objects.filter(event_type="api_key.auth_failed_burst")
    assert bursts.count() == 1
    assert bursts.get().data == {
        "failures": 10,
        "window_seconds": 60,
        "last_code": "invalid_api_key",
    }


def test_with_the_shared_cache_down_invented_keys_are_refused_and_real_ones_served(user):
    _, raw = make_api_key(user)
    key_client(invented_key()).get(INFO_URL)  # the process holds every stored hash

    with override_settings(CACHES=UNREACHABLE_REDIS):
        refused = [key_client(invented_key()).get(INFO_URL) for _ in range(3)]
        served = key_client(raw).get(INFO_URL)

    assert all(refused_as_invalid(response) for response in refused)
    assert served.status_code == 200


@pytest.mark.redis
def test_a_refused_invented_key_costs_one_redis_round_trip(user, request):
    calls = request.getfixturevalue("redis_calls")
    make_api_key(user)
    key_client(invented_key()).get(INFO_URL)  # the process now holds every stored hash
    calls.clear()

    assert refused_as_invalid(key_client(invented_key()).get(INFO_URL))

    # The anonymous bucket, the audit's burst tally and the generation check: one script call.
    assert calls == ["EVALSHA"]


@pytest.mark.redis
def test_a_refused_expired_key_costs_one_redis_round_trip(user, request):
    calls = request.getfixturevalue("redis_calls")
    api_key, raw = make_api_key(user, expires_at=timezone.now() + timedelta(hours=1))
    assert key_client(raw).get(INFO_URL).status_code == 200  # cached in this process
    with time_machine.travel(api_key.expires_at + timedelta(seconds=1)):
        calls.clear()
        response = key_client(raw).get(INFO_URL)

    assert response.json()["code"] == "api_key_expired"
    assert calls == ["EVALSHA"]


def test_refusals_past_the_first_burst_threshold_are_audited_once_per_threshold(user):
    make_api_key(user)

    for _ in range(101):
        key_client(invented_key()).get(INFO_URL, REMOTE_ADDR="192.0.2.7")

    bursts = AuditEvent.objects.filter(event_type="api_key.auth_failed_burst")
    assert sorted(b.data["failures"] for b in bursts) == [10, 100]
    assert {b.ip for b in bursts} == {"192.0.2.7"}

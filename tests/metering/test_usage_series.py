"""The usage chart's three series are recorded per key and day (SPEC §13): calls served, calls
over the key's rate limit, and calls its own rules refused, in the per-request trip."""

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apikeys import usage
from apikeys.models import ApiKeyDailyUsage
from apikeys.services import api_key_revoke
from metering import backends
from tests.factories import UserFactory, issued_key

pytestmark = pytest.mark.django_db

INFO = "/api/v1/api-keys/info"


def _client(raw_key):
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=raw_key)
    return client


def _today(api_key):
    usage.usage_flush(key_ids=[api_key.pk])
    row = ApiKeyDailyUsage.objects.get(api_key=api_key, date=timezone.now().date())
    return row.count, row.limited_count, row.refused_count


def test_a_call_over_the_rate_limit_is_recorded_as_rate_limited_not_served():
    user = UserFactory()
    api_key, raw = issued_key(user, created_by=user, rate_limit={"per_minute": 1})
    client = _client(raw)

    statuses = [client.get(INFO).status_code for _ in range(3)]

    assert statuses == [200, 429, 429]
    assert _today(api_key) == (1, 2, 0)


def test_a_call_refused_by_the_keys_ip_allowlist_is_recorded_as_refused():
    user = UserFactory()
    api_key, raw = issued_key(user, created_by=user, allowed_ips=["10.0.0.0/8"])

    status = _client(raw).get(INFO).status_code
    status_again = _client(raw).get(INFO).status_code  # the cached record refuses too

    assert (status, status_again) == (403, 403)
    assert _today(api_key) == (0, 0, 2)
    api_key.refresh_from_db()
    assert api_key.request_count == 0


def test_calls_with_a_revoked_key_are_recorded_as_refused():
    user = UserFactory()
    api_key, raw = issued_key(user, created_by=user)
    api_key_revoke(api_key=api_key, actor=user)

    statuses = [_client(raw).get(INFO).status_code for _ in range(2)]

    assert statuses == [401, 401]
    assert _today(api_key) == (0, 0, 2)


def test_limited_and_refused_survive_a_failed_flush():
    user = UserFactory()
    api_key, _ = issued_key(user, created_by=user)
    backend = backends.active()
    key_id, day = str(api_key.pk), timezone.now().date().isoformat()
    backend.usage_take(key_id)  # start from an empty buffer

    backend.usage_restore(
        key_id, backends.Pending(count=1, days={day: 1}, limited={day: 2}, refused={day: 3})
    )

    again = backend.usage_take(key_id)
    assert (again.count, again.days, again.limited, again.refused) == (
        1,
        {day: 1},
        {day: 2},
        {day: 3},
    )

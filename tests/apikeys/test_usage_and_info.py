"""Per-key usage (daily counts, exact at once) and ``GET /api/v1/api-keys/info``."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from tests.apikeys.conftest import INFO_URL, key_client, key_url, make_api_key, person_client

pytestmark = pytest.mark.django_db


def usage(user, api_key, days):
    response = person_client(user).get(key_url(api_key.pk, "usage"), {"days": days})
    assert response.status_code == 200, response.content
    return response.json()


def test_usage_counts_every_request_of_today_exactly(user):
    api_key, raw = make_api_key(user)
    client = key_client(raw)
    for _ in range(7):
        client.get(INFO_URL)

    body = usage(user, api_key, days=3)

    assert body["request_count"] == 7
    assert [day["count"] for day in body["daily"]] == [0, 0, 7]
    assert body["daily"][-1]["date"] == timezone.now().date().isoformat()
    assert body["last_used_ip"] == "127.0.0.1"
    assert body["key_prefix"] == raw[:12]


def test_usage_is_a_daily_series_oldest_first(user):
    api_key, raw = make_api_key(user)
    start = timezone.now().replace(hour=12, minute=0, second=0, microsecond=0)

    with time_machine.travel(start - timedelta(days=2), tick=False):
        for _ in range(2):
            key_client(raw).get(INFO_URL)
    with time_machine.travel(start, tick=False):
        for _ in range(3):
            key_client(raw).get(INFO_URL)
        body = usage(user, api_key, days=4)

    dates = [(start - timedelta(days=n)).date().isoformat() for n in (3, 2, 1, 0)]
    assert body["daily"] == [
        {"date": dates[0], "count": 0},
        {"date": dates[1], "count": 2},
        {"date": dates[2], "count": 0},
        {"date": dates[3], "count": 3},
    ]
    assert body["request_count"] == 5
    assert body["last_used_at"].startswith(start.date().isoformat())


def test_usage_figures_in_the_key_object_are_exact_at_once(user):
    api_key, raw = make_api_key(user)
    for _ in range(4):
        key_client(raw, "x-api-key").get(INFO_URL)

    body = person_client(user).get(key_url(api_key.pk)).json()

    assert body["request_count"] == 4
    assert body["last_used_at"] is not None


@pytest.mark.parametrize("days", ["0", "-1", "367", "many", "1.5"])
def test_usage_with_a_bad_days_parameter_gets_400_validation_error(user, days):
    api_key, _ = make_api_key(user)

    response = person_client(user).get(key_url(api_key.pk, "usage"), {"days": days})

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"


def test_info_returns_the_calling_keys_own_object(user):
    api_key, raw = make_api_key(user, name="ci", scopes=["agents:read"])

    response = key_client(raw).get(INFO_URL)

    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["name"], body["scopes"]) == (str(api_key.pk), "ci", ["agents:read"])
    assert body["full_access"] is False
    assert "key" not in body and "key_hash" not in body


def test_info_works_for_a_key_without_scopes_for_it(user):
    _, raw = make_api_key(user, key_type="restricted", scopes=["agents:read"])

    assert key_client(raw).get(INFO_URL).status_code == 200


def test_info_for_a_person_gets_403_insufficient_permissions(user):
    response = person_client(user).get(INFO_URL)

    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_permissions"

"""SPEC §12: credits. A key may carry ``{remaining, refill?}``; each admitted request spends one
(or ``cost`` from ``keys/verify`` and introspection); at zero, 429 ``credits_exhausted`` with the
refill time in ``retry_after``; refilled lazily at the start of each UTC day or month; the key
object shows the live balance at once.
"""

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from io import StringIO
from urllib.parse import urlencode

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection

from apikeys.models import ApiKey
from apikeys.usage import usage_flush
from tests.apikeys.conftest import (
    CHECK_URL,
    VERIFY_URL,
    key_client,
    key_url,
    make_api_key,
    person_client,
)
from tests.conftest import forget_everything
from tests.factories import StaffUserFactory

pytestmark = pytest.mark.django_db

INTROSPECT_URL = "/oauth2/introspect"
FORM = "application/x-www-form-urlencoded"


def introspect(client, **params):
    return client.post(INTROSPECT_URL, urlencode(params), content_type=FORM)


def credited_key(user, remaining=3, refill=None, **fields):
    return make_api_key(user, credits={"remaining": remaining, "refill": refill}, **fields)


AUTH_VERIFY = "/api/v1/auth/verify"  # authenticates and answers; reads no usage


def spend(raw, times=1):
    return [key_client(raw).get(AUTH_VERIFY).status_code for _ in range(times)]


def credits_shown(user, api_key):
    return person_client(user).get(key_url(api_key.pk)).json()["credits"]


def verifier(user):
    _, raw = make_api_key(user, name="verifier", scopes=["keys:verify"])
    return key_client(raw)


# --- set, shown, validated ---------------------------------------------------------------


def test_a_key_is_created_with_credits_through_the_api(person, user):
    response = person.post(
        "/api/v1/user/api-keys",
        {
            "name": "metered",
            "credits": {"remaining": 5, "refill": {"amount": 5, "interval": "daily"}},
        },
        format="json",
    )

    assert response.status_code == 201
    assert response.json()["credits"]["remaining"] == 5
    assert response.json()["credits"]["refill"] == {"amount": 5, "interval": "daily"}


def test_a_key_without_credits_shows_null_and_is_unlimited(person, user):
    api_key, raw = make_api_key(user)

    assert credits_shown(user, api_key) is None
    assert set(spend(raw, 5)) == {200}


def test_the_key_object_shows_the_remaining_credits_exactly_at_once(user):
    api_key, raw = credited_key(user, remaining=5)

    spend(raw, 2)

    assert credits_shown(user, api_key)["remaining"] == 3


def test_patch_sets_the_credits_and_the_live_balance(user):
    api_key, raw = credited_key(user, remaining=1)
    assert spend(raw, 2) == [200, 429]

    response = person_client(user).patch(
        key_url(api_key.pk), {"credits": {"remaining": 2}}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["credits"]["remaining"] == 2
    assert spend(raw, 3) == [200, 200, 429]


def test_patch_with_null_credits_makes_the_key_unlimited(user):
    api_key, raw = credited_key(user, remaining=1)
    spend(raw, 1)

    person_client(user).patch(key_url(api_key.pk), {"credits": None}, format="json")

    assert set(spend(raw, 3)) == {200}


@pytest.mark.parametrize(
    "credits",
    [
        {"remaining": -1},
        {"remaining": "many"},
        {"remaining": 10**13},
        {},
        {"remaining": 1, "refill": {"amount": 0, "interval": "daily"}},
        {"remaining": 1, "refill": {"amount": 5, "interval": "hourly"}},
        {"remaining": 1, "refill": {"interval": "daily"}},
        "lots",
    ],
)
def test_malformed_credits_are_a_validation_error(person, credits):
    response = person.post(
        "/api/v1/user/api-keys", {"name": "bad", "credits": credits}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert any(field.startswith("credits") for field in response.json()["errors"])


# --- spending --------------------------------------------------------------------------


def test_each_admitted_request_spends_one_and_at_zero_the_answer_is_429(user):
    _, raw = credited_key(user, remaining=3)

    assert spend(raw, 4) == [200, 200, 200, 429]


def test_credits_exhausted_without_refill_has_a_null_retry_after(user):
    _, raw = credited_key(user, remaining=0)

    response = key_client(raw).get(AUTH_VERIFY)

    assert response.status_code == 429
    assert response.json() == {
        "detail": "The key has no credits left.",
        "code": "credits_exhausted",
        "retry_after": None,
    }
    assert not response.has_header("Retry-After")


def test_credits_exhausted_names_the_refill_time_in_retry_after(user):
    with time_machine.travel(datetime(2026, 5, 1, 23, 0, tzinfo=UTC), tick=False):
        _, raw = credited_key(user, remaining=0, refill={"amount": 2, "interval": "daily"})
        response = key_client(raw).get(AUTH_VERIFY)

    assert response.status_code == 429
    assert response.json()["retry_after"] == 3600
    assert response["Retry-After"] == "3600"


def test_a_credit_refusal_spends_no_rate_limit_nor_usage(user):
    api_key, raw = credited_key(user, remaining=1, rate_limit={"per_minute": 3})
    spend(raw, 1)

    assert spend(raw, 5) == [429] * 5
    person_client(user).patch(key_url(api_key.pk), {"credits": {"remaining": 10}}, format="json")

    # Three a minute: one spent before, so two more are admitted; the credit refusals took none.
    assert spend(raw, 3) == [200, 200, 429]
    assert key_client(raw).get(AUTH_VERIFY).json()["code"] == "rate_limit_error"
    usage = person_client(user).get(f"{key_url(api_key.pk)}/usage").json()
    assert usage["request_count"] == 3


def test_a_rate_limited_request_spends_no_credits(user):
    api_key, raw = credited_key(user, remaining=10, rate_limit={"per_minute": 2})

    spend(raw, 5)

    assert credits_shown(user, api_key)["remaining"] == 8


# --- refill ----------------------------------------------------------------------------


def test_a_daily_refill_sets_remaining_to_the_amount_at_the_start_of_the_utc_day(user):
    with time_machine.travel(datetime(2026, 5, 1, 12, 0, tzinfo=UTC)) as traveller:
        api_key, raw = credited_key(user, remaining=2, refill={"amount": 3, "interval": "daily"})
        assert spend(raw, 3) == [200, 200, 429]
        traveller.move_to(datetime(2026, 5, 1, 23, 59, 59, tzinfo=UTC))
        assert spend(raw, 1) == [429]
        traveller.move_to(datetime(2026, 5, 2, 0, 0, 1, tzinfo=UTC))

        assert credits_shown(user, api_key)["remaining"] == 3
        assert spend(raw, 4) == [200, 200, 200, 429]
        assert credits_shown(user, api_key)["refills_at"] == "2026-05-03T00:00:00Z"


def test_a_monthly_refill_comes_at_the_start_of_the_next_utc_month(user):
    with time_machine.travel(datetime(2026, 12, 15, 8, 0, tzinfo=UTC)) as traveller:
        api_key, raw = credited_key(user, remaining=1, refill={"amount": 2, "interval": "monthly"})
        assert spend(raw, 2) == [200, 429]
        traveller.move_to(datetime(2026, 12, 31, 23, 0, tzinfo=UTC))
        assert key_client(raw).get(AUTH_VERIFY).json()["retry_after"] == 3600
        traveller.move_to(datetime(2027, 1, 1, 0, 0, 5, tzinfo=UTC))

        assert spend(raw, 3) == [200, 200, 429]
        assert credits_shown(user, api_key)["refills_at"] == "2027-02-01T00:00:00Z"


def test_a_refill_missed_for_days_happens_once_on_the_next_request(user):
    with time_machine.travel(datetime(2026, 5, 1, 12, 0, tzinfo=UTC)) as traveller:
        _, raw = credited_key(user, remaining=1, refill={"amount": 2, "interval": "daily"})
        spend(raw, 1)
        traveller.move_to(datetime(2026, 5, 9, 6, 0, tzinfo=UTC))

        assert spend(raw, 3) == [200, 200, 429]


# --- keys/verify and introspection: cost ------------------------------------------------


def test_verify_spends_the_cost_it_is_given(user):
    api_key, raw = credited_key(user, remaining=10)
    client = verifier(user)

    body = client.post(VERIFY_URL, {"key": raw, "cost": 4}, format="json").json()

    assert body["valid"] is True
    assert body["credits"] == {"remaining": 6, "retry_after": None}
    assert credits_shown(user, api_key)["remaining"] == 6


def test_verify_refuses_a_cost_above_what_remains_and_spends_nothing(user):
    api_key, raw = credited_key(user, remaining=3)
    client = verifier(user)

    body = client.post(VERIFY_URL, {"key": raw, "cost": 5}, format="json").json()

    assert body["valid"] is False
    assert body["code"] == "credits_exhausted"
    assert credits_shown(user, api_key)["remaining"] == 3


def test_verify_with_cost_zero_checks_without_spending(user):
    api_key, raw = credited_key(user, remaining=2)
    client = verifier(user)

    body = client.post(VERIFY_URL, {"key": raw, "cost": 0}, format="json").json()

    assert body["valid"] is True
    assert credits_shown(user, api_key)["remaining"] == 2


def test_verify_of_a_key_without_credits_shows_null_credits(user):
    _, raw = make_api_key(user)

    body = verifier(user).post(VERIFY_URL, {"key": raw, "cost": 7}, format="json").json()

    assert body["valid"] is True
    assert body["credits"] is None


@pytest.mark.parametrize("cost", [-1, 1.5, "x", 10**7, True])
def test_verify_refuses_a_malformed_cost(user, cost):
    _, raw = credited_key(user, remaining=2)

    response = verifier(user).post(VERIFY_URL, {"key": raw, "cost": cost}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert "cost" in response.json()["errors"]


def test_introspection_spends_the_cost_and_is_inactive_once_exhausted(user):
    api_key, raw = credited_key(user, remaining=5)
    client = verifier(user)

    first = introspect(client, token=raw, cost="5")
    second = introspect(client, token=raw)

    assert first.json()["active"] is True
    assert second.json() == {"active": False}
    assert credits_shown(user, api_key)["remaining"] == 0


@pytest.mark.parametrize("cost", ["-1", "1.5", "many", "10000000"])
def test_introspection_refuses_a_malformed_cost(user, cost):
    _, raw = credited_key(user, remaining=5)

    response = introspect(verifier(user), token=raw, cost=cost)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


# --- escalation (SPEC §9) --------------------------------------------------------------


def manager(user, credits):
    _, raw = make_api_key(
        user,
        name="manager",
        key_manager=True,
        scopes=["keys:read", "keys:write"],
        credits=credits,
    )
    return key_client(raw)


@pytest.mark.parametrize(
    "child",
    [
        None,
        {"remaining": 11},
        {"remaining": 5, "refill": {"amount": 5, "interval": "daily"}},
    ],
)
def test_a_manager_with_credits_cannot_give_more(user, child):
    client = manager(user, {"remaining": 10})

    response = client.post(
        "/api/v1/user/api-keys",
        {"name": "child", "scopes": ["keys:read"], "credits": child},
        format="json",
    )

    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_permissions"
    assert "credits" in response.json()["detail"]


def test_a_manager_with_credits_gives_credits_within_its_own(user):
    client = manager(user, {"remaining": 10, "refill": {"amount": 100, "interval": "monthly"}})

    response = client.post(
        "/api/v1/user/api-keys",
        {
            "name": "child",
            "scopes": ["keys:read"],
            "credits": {"remaining": 50, "refill": {"amount": 3, "interval": "daily"}},
        },
        format="json",
    )

    assert response.status_code == 201


def test_a_manager_with_credits_cannot_lift_a_keys_credits(user):
    api_key, _ = credited_key(user, remaining=5, scopes=["keys:read"])
    client = manager(user, {"remaining": 10})

    response = client.patch(key_url(api_key.pk), {"credits": None}, format="json")

    assert response.status_code == 403
    assert ApiKey.objects.get(pk=api_key.pk).credits_remaining == 5


# --- persistence -----------------------------------------------------------------------


def test_the_usage_flush_copies_the_balance_into_the_database(user):
    api_key, raw = credited_key(user, remaining=5)
    spend(raw, 2)

    usage_flush()

    assert ApiKey.objects.get(pk=api_key.pk).credits_remaining == 3


def test_a_cache_that_lost_the_balance_is_seeded_from_the_last_flush(user):
    api_key, raw = credited_key(user, remaining=5)
    spend(raw, 2)
    usage_flush()
    spend(raw, 1)  # spent after the flush: what losing the cache gives back

    forget_everything()  # Redis flushed (or the embedded process restarted): nothing cached

    assert credits_shown(user, api_key)["remaining"] == 3
    assert spend(raw, 4) == [200, 200, 200, 429]


# --- concurrency -----------------------------------------------------------------------


def _spend_once(raw):
    try:
        return key_client(raw).get(AUTH_VERIFY).status_code
    finally:
        connection.close()


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_exactly_the_credits_are_admitted_among_concurrent_requests():
    owner = StaffUserFactory()  # staff: may lift the rate limit out of the way
    api_key, raw = make_api_key(
        owner,
        rate_limit={"per_minute": 100_000, "per_hour": 1_000_000},
        credits={"remaining": 40},
    )

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(_spend_once, [raw] * 100))

    assert statuses.count(200) == 40
    assert statuses.count(429) == 60
    assert credits_shown(owner, api_key)["remaining"] == 0


# --- the key's page and listapikeys ------------------------------------------------------


def test_the_keys_page_shows_the_live_balance_and_the_refill(user, client):
    with time_machine.travel(datetime(2026, 5, 1, 12, 0, tzinfo=UTC)):
        api_key, raw = credited_key(user, remaining=5, refill={"amount": 9, "interval": "daily"})
        spend(raw, 2)
        client.force_login(user)
        content = client.get(f"/keys/{api_key.pk}").content.decode()

    assert "<strong>3</strong> left; refilled to 9 daily, next 2026-05-02 00:00 UTC" in content


def test_the_keys_page_says_unlimited_for_a_key_without_credits(user, client):
    api_key, _ = make_api_key(user)
    client.force_login(user)

    content = client.get(f"/keys/{api_key.pk}").content.decode()

    assert '<dt>Credits</dt><dd id="credits"><span class="muted">unlimited</span>' in content


def test_listapikeys_shows_the_live_balance(user):
    _, raw = credited_key(user, remaining=5, refill={"amount": 9, "interval": "monthly"})
    make_api_key(user, name="plain")
    spend(raw, 1)
    out = StringIO()

    call_command("listapikeys", stdout=out)

    header, *rows = out.getvalue().splitlines()
    assert header.split()[-1] == "CREDITS"
    assert sorted(row.split()[-1] for row in rows) == ["-", "monthly"]
    assert any(row.split()[-2:] == ["4/9", "monthly"] for row in rows)


def test_a_rotated_keys_successor_starts_with_its_live_balance(user):
    api_key, raw = credited_key(user, remaining=5, refill={"amount": 5, "interval": "daily"})
    spend(raw, 2)

    response = person_client(user).post(key_url(api_key.pk, "rotate"), format="json")

    assert response.status_code in (200, 201)
    successor = response.json()
    assert successor["credits"]["remaining"] == 3
    assert successor["credits"]["refill"] == {"amount": 5, "interval": "daily"}
    assert spend(successor["key"], 4) == [200, 200, 200, 429]


def test_auth_check_passes_credits_exhausted_on_to_the_proxy(user):
    _, raw = credited_key(user, remaining=1)
    check = key_client(raw, HTTP_X_ORIGINAL_URI="/api/v1/health")

    first, second = check.get(CHECK_URL), check.get(CHECK_URL)

    assert first.status_code == 200
    assert second.status_code == 429
    assert second["X-Auth-Error-Code"] == "credits_exhausted"

"""Canary keys (SPEC §12): issued like any key, never authorise, and every use is recorded.

Whoever presents a canary hears exactly what an unknown key gets; its owner sees the touch in
the audit log (at most one event per key, IP and minute), in a Prometheus counter and on the
key's page.
"""

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from apikeys import canary, crypto
from apikeys.models import ApiKey
from apikeys.services import api_key_revoke
from audit.models import AuditEvent
from core.metrics import CANARY_TOUCHES
from tests.apikeys.conftest import (
    CHECK_URL,
    INFO_URL,
    KEYS_URL,
    PRESENTATIONS,
    VERIFY_URL,
    key_client,
    make_api_key,
)
from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db

TOUCH = canary.TOUCH_EVENT


@pytest.fixture(autouse=True)
def _fresh_touch_memory():
    canary.reset()
    yield
    canary.reset()


@pytest.fixture
def canary_key(user):
    return make_api_key(user, key_type="canary", name="bait in the wiki")


def touches(api_key) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(event_type=TOUCH, target_id=str(api_key.pk)))


def unknown_key() -> str:
    return crypto.generate_key()


def comparable(response) -> tuple:
    """What a caller can tell a refusal by: status, body and the headers that matter."""
    return (
        response.status_code,
        response.json(),
        response.get("WWW-Authenticate"),
        response.get("Content-Type"),
        response.get("X-RateLimit-Limit"),
        response.get("RateLimit-Policy"),
        sorted(response.headers),
    )


# --- issued like any key ---------------------------------------------------------------------


def test_canary_created_through_the_api_looks_like_any_key(person):
    response = person.post(KEYS_URL, {"name": "bait", "key_type": "canary"}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["key_type"] == "canary"
    assert crypto.is_well_formed(body["key"])
    assert body["key"].startswith("kw_") and len(body["key"]) == len(crypto.generate_key())
    assert body["full_access"] is False  # it can do nothing at all


@pytest.mark.parametrize(
    "field, value",
    [
        ("scopes", ["read:all"]),
        ("endpoints", [{"path": "/api/v1/agents", "methods": ["GET"]}]),
        ("key_manager", True),
    ],
)
def test_canary_refuses_anything_that_would_grant_it_something(person, field, value):
    response = person.post(
        KEYS_URL, {"name": "bait", "key_type": "canary", field: value}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert field in response.json()["errors"]
    assert not ApiKey.objects.filter(key_type="canary").exists()


def test_canary_cannot_gain_scopes_later(person, canary_key):
    api_key, _ = canary_key

    response = person.patch(f"{KEYS_URL}/{api_key.pk}", {"scopes": ["read:all"]}, format="json")

    assert response.status_code == 400
    api_key.refresh_from_db()
    assert api_key.scopes == []


def test_a_scoped_key_manager_may_plant_a_canary(user):
    _, manager = make_api_key(user, scopes=["keys:write", "keys:read"], key_manager=True)

    response = key_client(manager).post(
        KEYS_URL, {"name": "bait", "key_type": "canary"}, format="json"
    )

    assert response.status_code == 201, response.content


def test_createapikey_issues_a_canary(user):
    out = StringIO()

    call_command("createapikey", user=user.email, name="bait", key_type="canary", stdout=out)

    raw = out.getvalue().strip()
    assert crypto.is_well_formed(raw)
    assert ApiKey.objects.get(key_prefix=raw[:12]).key_type == "canary"


def test_createapikey_refuses_a_canary_with_scopes(user):
    with pytest.raises(CommandError, match="scopes"):
        call_command(
            "createapikey",
            user=user.email,
            name="bait",
            key_type="canary",
            scopes="read:all",
            stdout=StringIO(),
        )


def test_create_page_offers_the_canary_type(user):
    client = Client()
    client.login(email=user.email, password=DEFAULT_PASSWORD)

    response = client.get("/keys/new")

    assert response.status_code == 200
    assert 'value="canary"' in response.content.decode()


def test_create_page_issues_a_canary(user):
    client = Client()
    client.force_login(user)

    response = client.post("/keys/new", {"name": "bait", "key_type": "canary"})

    assert response.status_code == 303  # to the reveal page (SPEC §13)
    assert ApiKey.objects.get(user=user).key_type == "canary"


def test_create_page_refuses_a_canary_with_scopes(user):
    client = Client()
    client.force_login(user)

    response = client.post(
        "/keys/new", {"name": "bait", "key_type": "canary", "scopes": ["agents:read"]}
    )

    assert response.status_code == 400
    assert "never authorises" in response.content.decode()
    assert not ApiKey.objects.filter(user=user).exists()


def test_listapikeys_names_a_canary_for_what_it_is(user, canary_key):
    out = StringIO()

    call_command("listapikeys", stdout=out)

    assert "(canary)" in out.getvalue()
    assert "FULL ACCESS" not in out.getvalue()


# --- never authorises, refused as an unknown key ---------------------------------------------


@pytest.mark.parametrize("how", PRESENTATIONS)
def test_canary_is_refused_exactly_as_an_unknown_key(canary_key, how):
    _, raw = canary_key

    refused = key_client(raw, how).get(INFO_URL)
    unknown = key_client(unknown_key(), how).get(INFO_URL)

    assert refused.status_code == 401
    assert comparable(refused) == comparable(unknown)


def test_canary_is_refused_on_every_use_not_only_the_first(canary_key):
    _, raw = canary_key
    client = key_client(raw)

    codes = [client.get(INFO_URL).json()["code"] for _ in range(3)]

    assert codes == ["invalid_api_key"] * 3


@pytest.mark.parametrize("state", ["revoked", "expired"])
def test_canary_in_any_state_still_reads_as_unknown(canary_key, state):
    api_key, raw = canary_key
    if state == "revoked":
        api_key_revoke(api_key=api_key)
    else:
        ApiKey.objects.filter(pk=api_key.pk).update(expires_at=timezone.now() - timedelta(days=1))

    response = key_client(raw).get(INFO_URL)

    assert (response.status_code, response.json()["code"]) == (401, "invalid_api_key")


def test_canary_is_refused_at_auth_check_as_an_unknown_key(canary_key):
    _, raw = canary_key
    headers = {"HTTP_X_ORIGINAL_METHOD": "GET", "HTTP_X_ORIGINAL_URI": "/internal/payroll"}

    refused = key_client(raw).get(CHECK_URL, **headers)
    unknown = key_client(unknown_key()).get(CHECK_URL, **headers)

    assert refused.status_code == 401
    assert comparable(refused) == comparable(unknown)
    assert touches(canary_key[0])[0].data["original_uri"] == "/internal/payroll"


def test_canary_beside_a_good_key_refuses_the_request(user, canary_key):
    _, good = make_api_key(user)
    _, raw = canary_key

    response = key_client(good, "x-api-key", HTTP_AUTHORIZATION=f"Bearer {raw}").get(INFO_URL)

    assert (response.status_code, response.json()["code"]) == (401, "invalid_api_key")
    assert len(touches(canary_key[0])) == 1


def test_keys_verify_answers_a_canary_as_an_unknown_key_and_records_it(user, canary_key):
    api_key, raw = canary_key
    _, verifier = make_api_key(user, scopes=["keys:verify"])
    body = {"method": "GET", "path": "/api/v2/orders", "ip": "198.51.100.7"}

    answer = key_client(verifier).post(VERIFY_URL, {"key": raw, **body}, format="json").json()
    unknown = (
        key_client(verifier).post(VERIFY_URL, {"key": unknown_key(), **body}, format="json").json()
    )

    assert answer == unknown
    assert answer["valid"] is False and answer["code"] == "invalid_api_key"
    [touch] = touches(api_key)
    assert touch.ip == "198.51.100.7"
    assert touch.data["channel"] == "keys_verify"
    assert touch.data["path"] == "/api/v2/orders"


def test_introspection_answers_a_canary_inactive_and_records_it(user, canary_key):
    from urllib.parse import urlencode

    api_key, raw = canary_key
    _, verifier = make_api_key(user, scopes=["keys:verify"])

    response = key_client(verifier).post(
        "/oauth2/introspect",
        urlencode({"token": raw}),
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 200
    assert response.json() == {"active": False}
    [touch] = touches(api_key)
    assert touch.data["channel"] == "introspect"


# --- every use is recorded, boundedly -------------------------------------------------------


def test_a_touch_records_who_where_and_how_but_never_the_key(canary_key):
    api_key, raw = canary_key

    key_client(raw).get(
        INFO_URL, REMOTE_ADDR="203.0.113.9", HTTP_USER_AGENT="curl/8.5.0 (stolen laptop)"
    )

    [touch] = touches(api_key)
    assert touch.ip == "203.0.113.9"
    assert touch.target_type == "apikeys.apikey"
    assert touch.data["key_id"] == str(api_key.pk)
    assert touch.data["key_prefix"] == api_key.key_prefix
    assert touch.data["owner_id"] == api_key.user_id
    assert touch.data["method"] == "GET"
    assert touch.data["path"] == INFO_URL
    assert touch.data["user_agent"] == "curl/8.5.0 (stolen laptop)"
    assert raw not in str(touch.data) and raw[12:] not in str(touch.data)


def test_touches_from_one_ip_are_recorded_once_a_minute(canary_key):
    api_key, raw = canary_key
    client = key_client(raw)

    with time_machine.travel(datetime(2026, 12, 7, 5, 0, 10, tzinfo=UTC), tick=False) as clock:
        for _ in range(20):
            client.get(INFO_URL)
        assert len(touches(api_key)) == 1
        clock.shift(60)
        client.get(INFO_URL)

    assert len(touches(api_key)) == 2


def test_touches_from_another_ip_are_recorded_apart(canary_key):
    api_key, raw = canary_key

    for address in ("203.0.113.1", "203.0.113.2", "203.0.113.1"):
        key_client(raw).get(INFO_URL, REMOTE_ADDR=address)

    assert sorted(touch.ip for touch in touches(api_key)) == ["203.0.113.1", "203.0.113.2"]


def test_the_shared_cache_bounds_touches_across_processes(canary_key):
    api_key, raw = canary_key
    key_client(raw).get(INFO_URL)

    canary.reset()  # another process: its own memory is empty, the shared cache is not
    key_client(raw).get(INFO_URL)

    assert len(touches(api_key)) == 1


def test_every_touch_is_counted_in_the_metric(canary_key):
    _, raw = canary_key
    counter = CANARY_TOUCHES.labels(channel="request")
    before = counter._value.get()

    for _ in range(3):
        key_client(raw).get(INFO_URL)

    assert counter._value.get() - before == 3


def test_a_warm_canary_is_refused_without_a_query(canary_key, django_assert_num_queries):
    _, raw = canary_key
    client = key_client(raw)
    client.get(INFO_URL)  # cold: one probe, and the minute's audit event

    with django_assert_num_queries(0):
        response = client.get(INFO_URL)

    assert response.status_code == 401


def test_a_canary_use_counts_in_the_callers_anonymous_bucket(canary_key, settings):
    settings.KEYWARD_ANON_RATE_PER_IP = "3/m"
    _, raw = canary_key

    codes = [key_client(raw).get(INFO_URL).status_code for _ in range(4)]

    assert codes == [401, 401, 401, 429]


# --- the key's page --------------------------------------------------------------------------


def test_canary_page_lists_its_touches(user, canary_key):
    api_key, raw = canary_key
    key_client(raw).get(INFO_URL, REMOTE_ADDR="203.0.113.77", HTTP_USER_AGENT="thief-bot/1.0")
    client = Client()
    client.login(email=user.email, password=DEFAULT_PASSWORD)

    page = client.get(f"/keys/{api_key.pk}").content.decode()

    assert 'id="canary-touches"' in page
    assert "203.0.113.77" in page and "thief-bot/1.0" in page


def test_untouched_canary_page_says_so(user, canary_key):
    client = Client()
    client.login(email=user.email, password=DEFAULT_PASSWORD)

    page = client.get(f"/keys/{canary_key[0].pk}").content.decode()

    assert 'id="canary-untouched"' in page


def test_an_ordinary_keys_page_has_no_canary_section(user):
    api_key, _ = make_api_key(user)
    client = Client()
    client.login(email=user.email, password=DEFAULT_PASSWORD)

    page = client.get(f"/keys/{api_key.pk}").content.decode()

    assert "canary-title" not in page


def test_a_lane_outside_drf_refuses_a_canary_through_authenticate_key(canary_key):
    """``authenticate_key`` is the shared judgement: a plain WSGI request object will do."""
    from rest_framework.exceptions import AuthenticationFailed

    from apikeys.authentication import authenticate_key

    class WsgiRequest:
        def __init__(self, environ):
            self.META = environ

    api_key, raw = canary_key
    environ = {
        "REMOTE_ADDR": "192.0.2.44",
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/api/v1/auth/check",
        "HTTP_USER_AGENT": "lane-test",
    }

    for _ in range(2):  # cold, then warm from the process's cache
        with pytest.raises(AuthenticationFailed) as refused:
            authenticate_key(raw, request=WsgiRequest(environ))
        assert refused.value.get_codes() == "invalid_api_key"

    [touch] = touches(api_key)
    assert (touch.ip, touch.data["path"], touch.data["user_agent"]) == (
        "192.0.2.44",
        "/api/v1/auth/check",
        "lane-test",
    )

"""The §6 rate-limit contract as a client sees it: headers on every counted response (errors
included), the 429 for users, anonymous callers by IP, the type defaults, ``flushusage``."""

from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.test import override_settings
from rest_framework.test import APIClient

from apikeys.models import ApiKey, ApiKeyDailyUsage
from tests.factories import StaffUserFactory, UserFactory, issued_key
from tests.tenants.helpers import jwt_for

pytestmark = pytest.mark.django_db

FROZEN = "2026-05-01T10:00:01Z"
HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "RateLimit-Policy")


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(FROZEN, tick=False):
        yield


def bearer(credential) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {credential}")
    return client


def raw_key(user=None, **fields) -> tuple[ApiKey, str]:
    user = user or UserFactory()
    return issued_key(user, created_by=user, name="contract", **fields)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("get", "/api/v1/audit-events", 403),
        ("get", "/api/v1/agents", 400),  # the caller belongs to no tenant
        ("delete", "/api/v1/api-keys/info", 405),
        ("get", "/api/v1/user/api-keys", 403),  # not a key manager
    ],
)
def test_error_responses_of_a_key_carry_the_rate_limit_headers(method, path, status):
    _, raw = raw_key(key_type="development")

    response = getattr(bearer(raw), method)(path)

    assert response.status_code == status
    for name in HEADERS:
        assert response.has_header(name), name
    assert response["X-RateLimit-Limit"] == "60"
    assert response["RateLimit"].startswith('"minute";r=59;t=')


@pytest.mark.parametrize(
    ("path", "status"),
    [("/api/v1/audit-events", 403), ("/api/v1/user/api-keys/not-a-key", 404)],
)
def test_error_responses_of_a_jwt_user_carry_the_user_limits(path, status):
    response = bearer(jwt_for(UserFactory())).get(path)

    assert response.status_code == status
    assert response["RateLimit-Policy"] == '"minute";q=600;w=60, "hour";q=10000;w=3600'
    assert response["X-RateLimit-Remaining"] == "599"


@override_settings(KEYWARD_USER_RATE_LIMITS={"per_minute": 1})
def test_a_user_over_the_limit_gets_the_contract_429_with_headers():
    client = bearer(jwt_for(UserFactory()))
    client.get("/api/v1/auth/verify")

    refused = client.get("/api/v1/auth/verify")

    assert refused.status_code == 429
    body = refused.json()
    assert set(body) == {"detail", "code", "retry_after"}
    assert (body["detail"], body["code"]) == ("Rate limit exceeded", "rate_limit_error")
    assert 1 <= body["retry_after"] <= 60
    assert refused["Retry-After"] == str(body["retry_after"])
    assert refused["X-RateLimit-Remaining"] == "0"
    assert refused["X-RateLimit-Limit"] == "1"


@override_settings(KEYWARD_ANON_RATE_PER_IP="2/m")
def test_anonymous_calls_are_limited_per_client_ip():
    client = APIClient()

    statuses = [
        client.get("/api/v1/tenants", REMOTE_ADDR="198.51.100.1").status_code for _ in range(3)
    ]
    other_ip = client.get("/api/v1/tenants", REMOTE_ADDR="198.51.100.2")

    assert statuses == [401, 401, 429]
    assert other_ip.status_code == 401
    assert other_ip["X-RateLimit-Limit"] == "2"


@pytest.mark.parametrize(
    ("key_type", "policy"),
    [
        ("development", '"minute";q=60;w=60, "hour";q=1000;w=3600'),
        ("production", '"minute";q=600;w=60, "hour";q=10000;w=3600'),
        ("restricted", '"minute";q=60;w=60'),
        ("admin", '"minute";q=600;w=60'),
    ],
)
def test_each_key_type_is_counted_under_its_default_limits(key_type, policy):
    fields = {"scopes": ["read:all"]} if key_type == "restricted" else {}
    user = StaffUserFactory() if key_type == "admin" else UserFactory()
    _, raw = raw_key(user, key_type=key_type, **fields)

    response = bearer(raw).get("/api/v1/api-keys/info")

    assert response.status_code == 200
    assert response["RateLimit-Policy"] == policy


def test_flushusage_moves_buffered_usage_into_the_database():
    api_key, raw = raw_key()
    for _ in range(4):
        bearer(raw).get("/api/v1/auth/verify", REMOTE_ADDR="192.0.2.7")
    out = StringIO()

    call_command("flushusage", stdout=out)

    api_key.refresh_from_db()
    assert api_key.request_count == 4
    assert api_key.last_used_ip == "192.0.2.7"
    assert api_key.last_used_at.isoformat() == "2026-05-01T10:00:00+00:00"
    assert ApiKeyDailyUsage.objects.get(api_key=api_key).count == 4
    assert "flushed 4 requests" in out.getvalue()
